from __future__ import annotations

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from idpsync.settings import Secret


class Holder(BaseModel):
    secret: Secret


def test_env_reference(monkeypatch) -> None:
    monkeypatch.setenv("IDP_SECRET", "s3cr3t-value")
    holder = Holder(secret="env:IDP_SECRET")
    assert isinstance(holder.secret, SecretStr)
    assert holder.secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(holder)


def test_missing_env_var_names_it(monkeypatch) -> None:
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    with pytest.raises(ValidationError, match="environment variable NOPE_SECRET is not set"):
        Holder(secret="env:NOPE_SECRET")


def test_file_reference(tmp_path) -> None:
    (tmp_path / "s").write_text("from-file\n", encoding="utf-8")
    assert Holder(secret=f"file:{tmp_path / 's'}").secret.get_secret_value() == "from-file"
    pem = "-----BEGIN X-----\nabc\n-----END X-----\n"
    (tmp_path / "k").write_text(pem, encoding="utf-8")
    assert Holder(secret=f"file:{tmp_path / 'k'}").secret.get_secret_value() == pem


def test_unreadable_file_and_inline_secret_rejected_without_echo(tmp_path) -> None:
    with pytest.raises(ValidationError, match="cannot read secret file"):
        Holder(secret=f"file:{tmp_path / 'missing'}")
    with pytest.raises(ValidationError) as info:
        Holder(secret="hunter2-inline")
    # idpsync renders validation errors without their input (see config_errors.describe_errors).
    messages = " ".join(e["msg"] for e in info.value.errors(include_input=False))
    assert "secrets are not written inline" in messages
    assert "hunter2-inline" not in messages
