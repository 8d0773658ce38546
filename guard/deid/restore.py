"""`guard restore`: decrypt the values that the `encrypt` operator wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from guard.core.errors import InputError, KeyMissingError
from guard.core.io import CorpusReader, Format, Outputs, check_distinct
from guard.core.keys import DEFAULT_KEY_ENV, load_key
from guard.core.types import RecordError
from guard.deid.operators import ENCRYPTED_TOKEN, decrypt_token


@dataclass(frozen=True)
class RestoreReport:
    records: int
    values_restored: int


def restore(
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_fields: tuple[str, ...] = ("text",),
    fmt: Format | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    key_file: str | Path | None = None,
) -> RestoreReport:
    """Replace every `<ENC:TYPE:token>` in the text fields with the original value.

    The output may not be the input (nor a link to it): the scrubbed corpus is never
    overwritten with decrypted PII. It is written atomically."""
    check_distinct({"input": input_path, "output": output_path})
    key = load_key(env=key_env, key_file=key_file)
    if key is None:
        raise KeyMissingError(f"restore needs the key used to encrypt: set ${key_env} or pass --key-file")
    reader = CorpusReader(input_path, fmt=fmt)
    records = restored = 0
    with Outputs() as outputs:
        writer = outputs.corpus(
            output_path, fmt=reader.format, columns=reader.columns, schema=reader.schema, source=input_path
        )
        for item in reader:
            if isinstance(item, RecordError):
                raise InputError(item.reason, path=str(input_path), line=item.line)
            data = dict(item.data)
            for name in text_fields:
                value = data.get(name)
                if not isinstance(value, str):
                    continue

                def _decrypt(m, line=item.line, name=name):  # type: ignore[no-untyped-def]
                    try:
                        return decrypt_token(key, m.group(2))
                    except Exception as e:  # wrong key: bad padding or bad UTF-8
                        raise InputError(
                            f"cannot decrypt a {m.group(1)} value: wrong key or corrupted token",
                            path=str(input_path),
                            line=line,
                            field=name,
                        ) from e

                new, n = ENCRYPTED_TOKEN.subn(_decrypt, value)
                data[name] = new
                restored += n
            writer.write(data, line=item.line)
            records += 1
    return RestoreReport(records, restored)


__all__ = ["RestoreReport", "restore"]
