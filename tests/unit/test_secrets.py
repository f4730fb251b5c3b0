from __future__ import annotations

import logging

import pytest

from lightly_ray.progress import captured_run_log, logger
from lightly_ray.storage import display_url, redact


def test_redact_removes_environment_secrets_and_url_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-123456")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=azurekey==;EndpointSuffix=core.windows.net",
    )
    text = (
        "failed with key aws-secret-123456 and azurekey== at "
        "https://acc.blob.core.windows.net/c/x?sv=2020&sig=abcDEF%2B&se=2030 AccountKey=other=="
    )
    cleaned = redact(text)
    for secret in ("aws-secret-123456", "azurekey==", "abcDEF%2B", "other=="):
        assert secret not in cleaned
    assert "https://acc.blob.core.windows.net/c/x?sv=***&sig=***&se=***" in cleaned


def test_display_url_drops_credentials() -> None:
    assert (
        display_url("https://acc.blob.core.windows.net/c/p?sv=1&sig=secret")
        == "https://acc.blob.core.windows.net/c/p"
    )
    assert display_url("s3://bucket/prefix") == "s3://bucket/prefix"
    assert (
        display_url("abfs://container@acc.dfs.core.windows.net/p")
        == "abfs://container@acc.dfs.core.windows.net/p"
    )
    assert display_url("/local/path") == "/local/path"


def test_run_log_is_redacted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-987654")
    with captured_run_log(show_progress=True) as log:
        logger.log(logging.WARNING, "request failed: token=%s", "session-token-987654")
    assert "session-token-987654" not in log.text()
    assert "session-token-987654" not in capsys.readouterr().err
    assert "***" in log.text()
