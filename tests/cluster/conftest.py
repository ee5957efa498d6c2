"""The core flows on a real three-master Redis Cluster, in every run: the run's own cluster
with TEST_REDIS_CLUSTER=1, else one this package starts on loopback and stops after it."""

from __future__ import annotations

import pytest

from tests.helpers import RedisClusterProcess


@pytest.fixture(scope="package")
def cluster(redis_cluster, tmp_path_factory):
    if redis_cluster is not None:
        yield redis_cluster
        return
    started = RedisClusterProcess(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def settings_overrides(settings_overrides, cluster):
    settings_overrides["redis_url"] = cluster.url
    return settings_overrides
