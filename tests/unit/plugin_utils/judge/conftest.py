import pytest
from fake_prometheus import FakePrometheus


@pytest.fixture
def prom():
    with FakePrometheus() as fake:
        yield fake
