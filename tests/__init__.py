import pytest

# The helpers' asserts (a response's status, say) explain themselves as the tests' own do.
pytest.register_assert_rewrite("tests.support")
