"""The provider catalogue: every entry backed by a passing vector, docs/providers.md generated from it, config."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks.config import ConfigError, parse_config
from webhook_kit.cli import app
from webhook_kit.providers_command import render_markdown
from webhook_verify.providers import PROVIDERS, CatalogueError, load
from webhook_verify.schemes import KeyUnavailable, Request, get_scheme

ROOT = Path(__file__).resolve().parents[2]
VECTORS = Path(__file__).parent / "vectors"


def _vector_file(name: str) -> Path:
    """A provider's vectors: its own file, or its scheme's when the provider is the scheme."""
    own = VECTORS / "providers" / f"{name}.json"
    return own if own.exists() or name != PROVIDERS[name].scheme else VECTORS / "schemes" / f"{name}.json"


def _vectors() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in PROVIDERS:
        path = _vector_file(name)
        if path.exists():
            found += [(name, vector) for vector in json.loads(path.read_text())["vectors"]]
    return found


VECTOR_CASES = _vectors()


def _body(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["body_base64"]) if "body_base64" in vector else vector["body"].encode()


def _served(vector: dict[str, Any]) -> Any:
    """A fetch that serves the certificates a vector carries by URL, and nothing else."""
    certificates = vector.get("certificates", {})

    def fetch(url: str) -> bytes:
        if url not in certificates:
            raise KeyUnavailable(url)
        return str(certificates[url]).encode()

    return fetch


def _verify(name: str, vector: dict[str, Any], body: bytes) -> bool:
    provider = PROVIDERS[name]
    request = Request(
        headers=vector["headers"],
        body=body,
        url=vector.get("url", "https://internal.execute-api.example/prod/webhooks/x"),
        query=tuple(tuple(pair) for pair in vector.get("query", [])),
    )
    return get_scheme(provider.scheme).verify(
        request,
        [vector["secret"]],
        now=vector["now"],
        tolerance_seconds=vector.get("tolerance_seconds", 300),
        options={**provider.options, **vector.get("options", {})},
        fetch=_served(vector),
    )


def test_every_provider_has_a_vector_that_names_its_source() -> None:
    missing = [name for name in PROVIDERS if not _vector_file(name).exists()]
    assert missing == []
    for name, vector in VECTOR_CASES:
        assert len(vector.get("source", "")) >= 20, f"{name}: {vector.get('name')} must name where it comes from"


@pytest.mark.parametrize(("name", "vector"), VECTOR_CASES, ids=[f"{n}:{v['name']}" for n, v in VECTOR_CASES])
def test_the_providers_vector_verifies_with_the_catalogues_scheme_and_options(
    name: str, vector: dict[str, Any]
) -> None:
    assert _verify(name, vector, _body(vector))


@pytest.mark.parametrize(("name", "vector"), VECTOR_CASES, ids=[f"{n}:{v['name']}" for n, v in VECTOR_CASES])
def test_the_providers_vector_with_a_changed_byte_or_another_secret_is_rejected(
    name: str, vector: dict[str, Any]
) -> None:
    body = bytearray(_body(vector))
    if PROVIDERS[name].verification == "signature":
        body[-1] ^= 0x01
        assert not _verify(name, vector, bytes(body))
    assert not _verify(name, {**vector, "secret": vector["secret"] + "x"}, _body(vector))


def test_docs_providers_md_is_generated_from_the_catalogue() -> None:
    # Regenerate with: python -m webhook_kit providers --markdown > docs/providers.md
    assert (ROOT / "docs" / "providers.md").read_text() == render_markdown()


def test_the_providers_command_lists_the_catalogue() -> None:
    result = CliRunner().invoke(app, ["providers"])
    assert result.exit_code == 0, result.output
    assert f"{len(PROVIDERS)} providers" in result.output
    for name in PROVIDERS:
        assert name in result.output


def _write(tmp_path: Path, name: str, entry: dict[str, Any]) -> Path:
    base = json.loads((ROOT / "lambdas" / "webhook_verify" / "providers" / "catalogue" / "github.json").read_text())
    (tmp_path / f"{name}.json").write_text(json.dumps({**base, **entry}))
    return tmp_path


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"scheme": "gitlab"}, "scheme 'gitlab' is not one of"),
        ({"verification": "trust"}, "verification must be one of"),
        ({"docs": "http://example.com"}, "docs must be an https:// link"),
        ({"colour": "blue"}, "unknown field(s) colour"),
        ({"acknowledgement": ""}, "acknowledgement required"),
        ({"scheme": "generic-hmac", "options": {}}, "signature_header"),
        # The answer is checked where the catalogue is read, not first at a verifier's cold start.
        ({"answer": {"status": 500}}, "answer must be {status: 2xx"),
        ({"answer": {"body": "x" * 257}}, "text of at most 256 characters"),
        ({"answer": {"status": 200, "headers": {}}}, "answer must be"),
        ({"answer": "[accepted]"}, "answer must be"),
    ],
)
def test_a_broken_catalogue_entry_is_refused_naming_file_and_field(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(CatalogueError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        load(_write(tmp_path, "broken", entry))
    assert "catalogue/broken.json" in str(refused.value)


def _source(**fields: Any) -> dict[str, Any]:
    return {"sources": [{"name": "hooks", **fields}]}


def test_a_source_naming_its_provider_gets_the_providers_scheme_and_options() -> None:
    [source] = parse_config(_source(provider="github")).sources
    assert (source.provider, source.scheme) == ("github", "github")
    assert source.verifier_options() == dict(PROVIDERS["github"].options)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"provider": "githb"}, "unknown provider 'githb'; did you mean github, gitlab?"),
        ({"provider": "github", "scheme": "stripe"}, "scheme 'stripe' contradicts provider 'github'"),
        ({"provider": "github", "generic": {"signature_header": "X-Sig"}}, "leave the [sources.generic] table out"),
        ({"scheme": "shared-token"}, "scheme 'shared-token' is only for providers of the catalogue"),
    ],
)
def test_a_provider_that_cannot_be_used_is_refused_with_the_fix(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(_source(**fields))
    assert message in str(refused.value)
