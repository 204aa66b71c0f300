"""`intake`: the Intake API from a shell.

    export INTAKE_API_URL=http://127.0.0.1:8080 INTAKE_TOKEN=$(make -s token TENANT=acme)
    intake send contacts.csv --type contacts --wait
    intake list --status FAILED
    intake status <file_id>

Exit codes: 0 done; 1 the API or S3 refused a request; 2 usage; 3 a --wait ended in a state
other than the one asked for (FAILED, REJECTED, EXPIRED...); 4 a --wait timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from intake_client.client import FINAL_STATUSES, IntakeClient
from intake_client.errors import IntakeApiError, IntakeTimeout

DEFAULT_API_URL = "http://127.0.0.1:8080"
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED_STATE = 3
EXIT_TIMEOUT = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description="Use the Intake API.")
    parser.add_argument(
        "--api-url",
        default=os.environ.get("INTAKE_API_URL", DEFAULT_API_URL),
        help="API base URL (env INTAKE_API_URL; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("INTAKE_TOKEN"),
        help="bearer token (env INTAKE_TOKEN; locally: `make -s token TENANT=acme`)",
    )
    parser.add_argument("--http-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    declare = sub.add_parser("declare", help="declare a local file; prints the upload block")
    declare.add_argument("file")
    _declare_options(declare)
    declare.add_argument("--auto-import", action="store_true", help="import once uploaded")

    upload = sub.add_parser("upload", help="send a file's bytes with a declaration's block")
    upload.add_argument("file")
    upload.add_argument("declaration", help="JSON printed by `intake declare` (a path, or -)")

    imp = sub.add_parser("import", help="queue an import (or a validation) of an uploaded file")
    imp.add_argument("file_id")
    imp.add_argument("--check-only", action="store_true", help="validate, write nothing")
    imp.add_argument("--on-invalid", choices=("fail", "skip"))
    _wait_options(imp)

    status = sub.add_parser("status", help="show a file")
    status.add_argument("file_id")
    _wait_options(status)

    ls = sub.add_parser("list", help="list files (newest first)")
    ls.add_argument("--status")
    ls.add_argument("--type", dest="import_type")
    ls.add_argument("--limit", type=int)
    ls.add_argument("--cursor")
    ls.add_argument("--all", action="store_true", help="follow next_cursor to the end")

    sub.add_parser("types", help="list the import types")

    send = sub.add_parser("send", help="declare, upload and import a file in one go")
    send.add_argument("file")
    _declare_options(send)
    send.add_argument("--no-import", action="store_true", help="upload only")
    _wait_options(send)
    return parser


def _declare_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", dest="import_type", required=True, help="import type, e.g. contacts")
    p.add_argument("--media-type", help="default: from the file's extension")
    p.add_argument("--name", help="default: the file's name")
    p.add_argument("--folder")
    p.add_argument("--category")
    p.add_argument("--tag", dest="tags", action="append", help="repeatable")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--check-only", action="store_true", help="validate only, write nothing")
    p.add_argument("--on-invalid", choices=("fail", "skip"))


def _wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true", help="wait until the file reaches a final state")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def _metadata(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"intake: --meta takes KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def _declare(
    client: IntakeClient, args: argparse.Namespace, *, auto_import: bool
) -> dict[str, Any]:
    return client.declare_path(
        args.file,
        import_type=args.import_type,
        media_type=args.media_type,
        name=args.name,
        folder=args.folder,
        category=args.category,
        tags=args.tags,
        metadata=_metadata(args.meta),
        auto_import=auto_import,
        check_only=args.check_only,
        on_invalid=args.on_invalid,
    )


def _wait_final(client: IntakeClient, file_id: str, args: argparse.Namespace) -> int:
    file = client.wait_for(file_id, FINAL_STATUSES, timeout=args.timeout)
    _print(file)
    return 0 if file["status"] in ("SUCCEEDED", "VALIDATED") else EXIT_UNEXPECTED_STATE


def run(args: argparse.Namespace) -> int:
    client = IntakeClient(args.api_url, args.token, timeout=args.http_timeout)
    if args.command == "declare":
        _print(_declare(client, args, auto_import=args.auto_import))
    elif args.command == "upload":
        text = sys.stdin.read() if args.declaration == "-" else open(args.declaration).read()  # noqa: SIM115
        declared = json.loads(text)
        result = client.upload(declared, path=args.file)
        _print({"file_id": declared.get("file_id"), **result})
    elif args.command == "import":
        accepted = client.request_import(
            args.file_id, check_only=args.check_only, on_invalid=args.on_invalid
        )
        if args.wait:
            return _wait_final(client, args.file_id, args)
        _print(accepted)
    elif args.command == "status":
        if args.wait:
            return _wait_final(client, args.file_id, args)
        _print(client.get_file(args.file_id))
    elif args.command == "list":
        if args.all:
            _print(
                {
                    "items": list(
                        client.iter_files(
                            status=args.status, import_type=args.import_type, page_size=args.limit
                        )
                    ),
                    "next_cursor": None,
                }
            )
        else:
            _print(
                client.list_files(
                    status=args.status,
                    import_type=args.import_type,
                    limit=args.limit,
                    cursor=args.cursor,
                )
            )
    elif args.command == "types":
        _print(client.list_import_types())
    elif args.command == "send":
        declared = _declare(client, args, auto_import=not args.no_import)
        file_id = declared["file_id"]
        client.upload(declared, path=args.file)
        print(f"uploaded {args.file} as {file_id}", file=sys.stderr)
        if not args.wait:
            _print({"file_id": file_id, "status": "PENDING_UPLOAD"})
            return 0
        if args.no_import:
            file = client.wait_for(file_id, {"UPLOADED"}, timeout=args.timeout)
            _print(file)
            return 0 if file["status"] == "UPLOADED" else EXIT_UNEXPECTED_STATE
        return _wait_final(client, file_id, args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except IntakeApiError as exc:
        print(f"intake: {exc.status} {exc.code}: {exc.message}", file=sys.stderr)
        for detail in exc.details:
            print(f"  - {json.dumps(detail)}", file=sys.stderr)
        return EXIT_API_ERROR
    except IntakeTimeout as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (OSError, ValueError) as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
