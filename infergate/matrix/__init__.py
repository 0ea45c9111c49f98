"""What is measured, declared as data: architectures, tasks and sizes (zoo), dtypes and their
tolerances, inputs and shapes, seeded models, the packaged real checkpoint, task-answer agreement.

May import infergate.core only. Never imports torch at module level. The order of layers, checked by
tests/test_architecture.py: core < matrix < building < measuring < reports < gate < pytest_plugin <
commands; a layer imports only layers before it.
"""
