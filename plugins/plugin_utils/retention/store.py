# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where archives are kept: a directory, or an S3 bucket with Object Lock (WORM).

Both write an archive once under a name that says what it holds, never replace one with other content, and
read it back byte for byte - the archive is verified from what the store returns, not from what was sent.

S3 (boto3, imported only for an S3 store): the bucket must have Object Lock enabled (checked before writing;
a bucket without it is refused - an archive that can be deleted is not a retention archive). Each object is put
with ``ObjectLockMode`` (COMPLIANCE: nobody, root included, can shorten or delete it before the date; GOVERNANCE:
only a principal with s3:BypassGovernanceRetention) and ``ObjectLockRetainUntilDate`` from the retention policy,
with its Content-MD5 and its SHA-256 in the object's metadata; reading back checks the lock the store reports.
Credentials come from the usual AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, a
profile, an instance role); nothing here takes a secret as an option. ``endpoint_url`` points at another S3 API
(MinIO, Ceph, a test server).

A directory is written 0400 in a 0700 directory; it is WORM only when the file system under it is (a SnapLock or
object-lock mount): the retain-until date is recorded in the ledger, the directory cannot enforce it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import os
import shutil
import tempfile

from .policy import RetentionError, rfc3339


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DirectoryStore:
    kind = "directory"

    def __init__(self, path: str):
        if not isinstance(path, str) or not path.strip():
            raise RetentionError("an archive directory must be a path")
        self.root = os.path.abspath(os.path.expanduser(path))

    def location(self, name: str) -> str:
        return os.path.join(self.root, *name.split("/"))

    def check(self) -> None:
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise RetentionError(f"cannot create archive directory {self.root}: {exc.strerror}") from None

    def put(self, name: str, path: str, sha256: str, retain_until: datetime.datetime, mode: str) -> dict:
        """Write the archive once (the same content again is a no-op; other content under its name is refused)."""
        dest = self.location(name)
        if os.path.exists(dest):
            if sha256_file(dest) != sha256:
                raise RetentionError(f"archive {dest} exists with other content; an archive is never replaced")
            return {"location": dest, "existed": True}
        try:
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".archive-", dir=os.path.dirname(dest))
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o400)
            os.link(tmp, dest)  # fails if another writer put it there meanwhile: never replaced
            os.unlink(tmp)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            raise RetentionError(f"cannot write archive {dest}: {exc.strerror}") from None
        return {"location": dest, "existed": False}

    def get(self, name: str, dest: str) -> dict:
        src = self.location(name)
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise RetentionError(f"cannot read archive {src} back: {exc.strerror}") from None
        return {"location": src, "lock_mode": None, "retain_until": None}


class S3Store:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url=None, region=None, client=None):
        if not isinstance(bucket, str) or not bucket:
            raise RetentionError("an S3 archive needs a bucket")
        self.bucket = bucket
        self.prefix = (prefix or "").strip("/")
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise RetentionError("an S3 archive needs the boto3 package on the controller") from None
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=region or None,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60),
            )
        self.client = client

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def location(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def _call(self, what: str, fn, **kwargs):
        where = f"s3://{self.bucket}/{kwargs['Key']}" if "Key" in kwargs else f"bucket {self.bucket}"
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:  # a client given by a test
            BotoCoreError = ClientError = ()
        try:
            return fn(**kwargs)
        except ClientError as exc:  # type: ignore[misc]
            error = exc.response.get("Error", {})
            raise _S3Error(
                f"S3 {what} of {where} failed: {error.get('Code')} {error.get('Message') or ''}".rstrip(),
                error.get("Code"),
            ) from None
        except BotoCoreError as exc:  # type: ignore[misc]
            raise RetentionError(f"S3 {what} of {where} failed: {exc}") from None

    def check(self) -> None:
        """The bucket must have Object Lock enabled: an archive that can be deleted is refused."""
        try:
            found = self._call("object lock check", self.client.get_object_lock_configuration, Bucket=self.bucket)
        except _S3Error as exc:
            if exc.code == "ObjectLockConfigurationNotFoundError":
                found = {}
            else:
                raise
        if (found.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled") != "Enabled":
            raise RetentionError(
                f"S3 bucket {self.bucket} does not have Object Lock enabled; create it with Object Lock "
                "(WORM) so archives cannot be deleted or replaced before their retention ends"
            )

    def put(self, name: str, path: str, sha256: str, retain_until: datetime.datetime, mode: str) -> dict:
        key = self.key(name)
        try:
            head = self._call("head", self.client.head_object, Bucket=self.bucket, Key=key)
        except _S3Error as exc:
            if exc.code not in ("404", "NoSuchKey", "NotFound"):
                raise
            head = None
        if head is not None:
            if (head.get("Metadata") or {}).get("sha256") != sha256:
                raise RetentionError(f"archive {self.location(name)} exists with other content; never replaced")
            return {"location": self.location(name), "existed": True, "version_id": head.get("VersionId")}
        with open(path, "rb") as fh:
            body = fh.read()
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()  # S3 wants it with a lock
        put = self._call(
            "put",
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentMD5=md5,
            ContentType="application/x-ndjson",
            Metadata={"sha256": sha256},
            ObjectLockMode=mode,
            ObjectLockRetainUntilDate=retain_until,
        )
        return {"location": self.location(name), "existed": False, "version_id": put.get("VersionId")}

    def get(self, name: str, dest: str) -> dict:
        key = self.key(name)
        got = self._call("get", self.client.get_object, Bucket=self.bucket, Key=key)
        with open(dest, "wb") as out:
            for block in iter(lambda: got["Body"].read(1 << 20), b""):
                out.write(block)
        # the lock as the store reports it with the object (GetObject returns its mode and date)
        until = got.get("ObjectLockRetainUntilDate")
        return {
            "location": self.location(name),
            "version_id": got.get("VersionId"),
            "lock_mode": got.get("ObjectLockMode"),
            "retain_until": rfc3339(until) if isinstance(until, datetime.datetime) else until,
        }


class _S3Error(RetentionError):
    def __init__(self, message: str, code=None):
        super().__init__(message)
        self.code = code


def open_store(directory: str | None = None, s3: dict | None = None):
    """A DirectoryStore or an S3Store (s3: bucket, prefix, endpoint_url, region); exactly one."""
    if bool(directory) == bool(s3 and s3.get("bucket")):
        raise RetentionError("archive to exactly one store: a directory (dest) or an S3 bucket (s3_bucket)")
    if directory:
        return DirectoryStore(directory)
    return S3Store(s3["bucket"], s3.get("prefix") or "", endpoint_url=s3.get("endpoint_url"), region=s3.get("region"))
