import json

import pytest
from edgehelpers import CHUNK, Source, release

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.errors import (
    DeadlineExceeded,
    IntegrityError,
    SourceError,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.edge.transfer import Transfer

FAST = {"connect_timeout": 2, "read_timeout": 1, "retry_min_delay": 0.01, "retry_max_delay": 0.05}


@pytest.fixture
def artifact(tmp_path):
    data, text = release(tmp_path, size=40000)
    source = Source(data)
    yield data, mf.parse(text)[0], source
    source.close()


def test_downloads_chunk_by_chunk_and_verifies(tmp_path, artifact):
    data, manifest, source = artifact
    state = Transfer(str(tmp_path / "dl"), manifest, source.url, FAST).run()
    assert (tmp_path / "dl" / "artifact.part").read_bytes() == data
    assert state["status"] == "complete" and state["verified_chunks"] == len(manifest["artifact"]["chunks"])
    assert [r[0] for r in source.requests] == [i * CHUNK for i in range(len(manifest["artifact"]["chunks"]))]
    assert source.body_sent == len(data)


def test_dropped_connection_resumes_inside_the_chunk(tmp_path, artifact):
    data, manifest, source = artifact
    source.drops = [CHUNK // 2]  # the first response is cut half way
    state = Transfer(str(tmp_path / "dl"), manifest, source.url, FAST).run()
    assert (tmp_path / "dl" / "artifact.part").read_bytes() == data
    assert source.requests[1] == (CHUNK // 2, CHUNK - 1), "the rest of the chunk was not asked for"
    assert source.body_sent == len(data), "bytes were fetched twice"
    assert state["reconnects"] == 1


def test_a_stopped_transfer_resumes_from_the_persisted_offset(tmp_path, artifact):
    data, manifest, source = artifact
    source.stall_after = 3 * CHUNK + 100  # then the link goes silent
    workdir = str(tmp_path / "dl")
    import time

    with pytest.raises(DeadlineExceeded):
        Transfer(workdir, manifest, source.url, FAST).run(deadline=time.time() + 2.5)
    persisted = json.loads((tmp_path / "dl" / "transfer.json").read_text())
    assert persisted["verified_chunks"] == 3 and persisted["offset"] == 3 * CHUNK
    source.stall_after = None
    source.requests.clear()
    resumed = []
    state = Transfer(workdir, manifest, source.url, FAST, on_event=lambda k, d: resumed.append((k, d))).run()
    assert (tmp_path / "dl" / "artifact.part").read_bytes() == data
    assert source.requests[0][0] == 3 * CHUNK, "the new process did not start at the persisted offset"
    assert resumed == [("resumed", {"offset": 3 * CHUNK, "verified_chunks": 3, "size": len(data)})]
    assert state["runs"] == 2 and state["resumed_from"] == [3 * CHUNK]


def test_unverified_tail_is_cut_on_restart(tmp_path, artifact):
    data, manifest, source = artifact
    job = Transfer(str(tmp_path / "dl"), manifest, source.url, FAST)
    job.run()
    state = json.loads((tmp_path / "dl" / "transfer.json").read_text())
    state.update(status="running", verified_chunks=2, offset=2 * CHUNK)
    (tmp_path / "dl" / "transfer.json").write_text(json.dumps(state))
    with open(tmp_path / "dl" / "artifact.part", "r+b") as handle:
        handle.seek(2 * CHUNK + 10)
        handle.write(b"garbage")  # unverified bytes past the verified offset, as a crash may leave
    source.requests.clear()
    Transfer(str(tmp_path / "dl"), manifest, source.url, FAST).run()
    assert (tmp_path / "dl" / "artifact.part").read_bytes() == data
    assert source.requests[0][0] == 2 * CHUNK


def test_a_corrupted_chunk_is_refused(tmp_path, artifact):
    _data, manifest, source = artifact
    source.corrupt = 2 * CHUNK + 5
    events = []
    with pytest.raises(IntegrityError, match="chunk 2"):
        Transfer(
            str(tmp_path / "dl"),
            manifest,
            source.url,
            dict(FAST, chunk_retries=2),
            on_event=lambda k, d: events.append(k),
        ).run()
    assert events.count("chunk_refused") == 3
    state = json.loads((tmp_path / "dl" / "transfer.json").read_text())
    assert state["status"] == "failed" and state["verified_chunks"] == 2
    assert (tmp_path / "dl" / "artifact.part").stat().st_size == 2 * CHUNK, "refused bytes were written"


def test_a_manifest_whose_chunks_do_not_add_up_is_refused(tmp_path, artifact):
    _data, manifest, source = artifact
    manifest["artifact"]["sha256"] = "0" * 64
    with pytest.raises(IntegrityError, match="assembled artifact"):
        Transfer(str(tmp_path / "dl"), manifest, source.url, FAST).run()


def test_a_source_without_range_support_is_refused(tmp_path, artifact):
    _data, manifest, source = artifact
    source.ignore_range = True
    with pytest.raises(SourceError, match="Range"):
        Transfer(str(tmp_path / "dl"), manifest, source.url, FAST).run()


def test_unreachable_source_runs_into_the_deadline(tmp_path, artifact):
    import time

    _data, manifest, _source = artifact
    with pytest.raises(DeadlineExceeded, match="0 of"):
        Transfer(str(tmp_path / "dl"), manifest, "http://127.0.0.1:9/x", FAST).run(deadline=time.time() + 0.5)


def test_credentials_in_the_url_are_never_stored(tmp_path, artifact):
    _data, manifest, source = artifact
    url = source.url.replace("http://", "http://user:s3cret@") + "?token=s3cret"
    Transfer(str(tmp_path / "dl"), manifest, url, FAST).run()
    assert "s3cret" not in (tmp_path / "dl" / "transfer.json").read_text()
