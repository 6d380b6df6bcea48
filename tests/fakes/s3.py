"""An S3-compatible server (moto) on 127.0.0.1, and Django storage pointed at it.

`s3_server`: one moto server for the test session (starting it costs about a second).
`s3_storage`: a fresh bucket per test and Django's default storage switched to
django-storages' S3Storage against it, exactly as AWS_STORAGE_BUCKET_NAME does in
config/settings.py. Files then really travel over HTTP, and `default_storage.url()`
gives presigned URLs that download from the server.

Registered as a pytest plugin by the root conftest.py.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

S3_REGION = "us-east-1"
S3_ACCESS_KEY = "testing-access-key"
S3_SECRET_KEY = "testing-secret-key"
S3_URL_EXPIRE = 600
_bucket_numbers = itertools.count(1)


@dataclass
class S3:
    endpoint_url: str
    bucket: str
    client: Any  # a boto3 S3 client on the same server, to check what Django wrote

    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self) -> list[str]:
        response = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in response.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO; failures are what matter in a test report.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_server: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=s3_server, region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
    )


@pytest.fixture
def s3_storage(s3_server: str, s3_client, settings) -> Iterator[S3]:
    """Django's default storage on a new, empty bucket of the local S3 server."""
    bucket = f"clipsocial-test-{next(_bucket_numbers)}"
    s3_client.create_bucket(Bucket=bucket)

    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = s3_server
    settings.AWS_S3_REGION_NAME = S3_REGION
    settings.AWS_S3_CUSTOM_DOMAIN = None
    settings.AWS_ACCESS_KEY_ID = S3_ACCESS_KEY
    settings.AWS_SECRET_ACCESS_KEY = S3_SECRET_KEY
    settings.AWS_QUERYSTRING_EXPIRE = S3_URL_EXPIRE
    settings.AWS_DEFAULT_ACL = None
    settings.AWS_S3_FILE_OVERWRITE = False
    # Path-style: the bucket cannot be a subdomain of 127.0.0.1.
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.AWS_S3_SIGNATURE_VERSION = "s3v4"
    # Last: a STORAGES change makes Django (django.test.signals.storages_changed) drop
    # the cached backends and default_storage's instance; it is rebuilt from the
    # AWS_* settings above on first use, and again from the old ones on teardown.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}

    yield S3(endpoint_url=s3_server, bucket=bucket, client=s3_client)

    # Empty and drop the bucket so the session-wide server does not grow.
    for key in S3(endpoint_url=s3_server, bucket=bucket, client=s3_client).keys():
        s3_client.delete_object(Bucket=bucket, Key=key)
    s3_client.delete_bucket(Bucket=bucket)
