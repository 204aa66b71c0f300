"""`intake`: the Intake API from a shell.

    export INTAKE_API_URL=http://127.0.0.1:8080 INTAKE_TOKEN=$(make -s token TENANT=acme)
    intake send contacts.csv --type contacts --wait
    intake analyse partner.csv > suggestion.json      # which type, which mapping?
    intake send partner.csv --mapping suggestion.json --wait
    intake send --resume <file_id> big.csv --wait      # continue an interrupted upload
    intake list --status FAILED
    intake status <file_id>

Exit codes: 0 done; 1 the API or S3 refused a request; 2 usage; 3 a --wait ended in a state
other than the one asked for (FAILED, REJECTED, EXPIRED...), or `analyse` found no type whose
required fields the file covers (the best suggestion is printed all the same); 4 a --wait timed
out; 130 interrupted (Ctrl-C: an upload says how to resume, or how to follow it if S3 had it
all).

Progress bars (bytes sent, then the import's progress while --wait waits) go to stderr, only
when it is a terminal and without --quiet: stdout carries the same JSON either way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from intake_client import progress
from intake_client.client import FINAL_STATUSES, UPLOAD_WORKERS, IntakeClient
from intake_client.errors import IntakeApiError, IntakeTimeout

DEFAULT_API_URL = "http://127.0.0.1:8080"
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED_STATE = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C


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
    _upload_options(upload, quiet=True)

    imp = sub.add_parser("import", help="queue an import (or a validation) of an uploaded file")
    imp.add_argument("file_id")
    imp.add_argument("--type", dest="import_type", help="required for a file declared without one")
    _mapping_options(imp)
    imp.add_argument("--check-only", action="store_true", help="validate, write nothing")
    imp.add_argument("--on-invalid", choices=("fail", "skip"))
    _wait_options(imp)

    analyse = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="upload a file without a type; print the type and mapping that fit it best",
        description="Declares FILE without an import type, uploads it, waits for its analysis "
        'and prints the best suggestion as {"import_type": ..., "mapping": {...}}: the body '
        "PUT /profiles/{name} takes as is, and what `send --mapping` and `import --mapping` "
        "read. The other suggestions' scores go to stderr.",
    )
    analyse.add_argument("file")
    analyse.add_argument("--media-type", help="default: from the file's extension")
    analyse.add_argument("--name", help="default: the file's name")
    analyse.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")

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
    send.add_argument(
        "--resume",
        metavar="FILE_ID",
        help="continue the interrupted upload of FILE_ID (declared before, still "
        "PENDING_UPLOAD) with the same FILE: only the parts S3 does not have are sent",
    )
    _declare_options(send)
    send.add_argument("--no-import", action="store_true", help="upload only")
    _wait_options(send)
    _upload_options(send, quiet=False)  # --quiet comes with the wait options
    return parser


def _upload_options(p: argparse.ArgumentParser, *, quiet: bool) -> None:
    if quiet:
        _quiet_option(p)
    p.add_argument(
        "--parallel",
        type=int,
        default=UPLOAD_WORKERS,
        metavar="N",
        help="parts of a multipart upload sent at once (default %(default)s)",
    )


def _declare_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--type",
        dest="import_type",
        help="import type, e.g. contacts (default: the --profile's or the --mapping "
        "document's; `declare` without one has the file analysed)",
    )
    _mapping_options(p)
    p.add_argument("--media-type", help="default: from the file's extension")
    p.add_argument("--name", help="default: the file's name")
    p.add_argument("--folder")
    p.add_argument("--category")
    p.add_argument("--tag", dest="tags", action="append", help="repeatable")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--check-only", action="store_true", help="validate only, write nothing")
    p.add_argument("--on-invalid", choices=("fail", "skip"))


def _mapping_options(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--mapping",
        metavar="FILE.json",
        help="a mapping, or a document with one (what `intake analyse` prints, a saved profile)",
    )
    how.add_argument("--profile", metavar="NAME", help="a saved profile (PUT /profiles/NAME)")


def _wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true", help="wait until the file reaches a final state")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    _quiet_option(p)


def _quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bars (none off a terminal anyway)"
    )


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False))


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


def _mapping_and_type(
    client: IntakeClient, args: argparse.Namespace
) -> tuple[dict[str, Any] | None, str | None]:
    """The --mapping file's mapping (a bare mapping, or a document holding one under
    "mapping", such as `intake analyse` prints) and the import type to use: --type, else the
    document's, else the --profile's."""
    import_type: str | None = args.import_type
    mapping = None
    if args.mapping:
        with open(args.mapping) as fh:
            document = json.load(fh)
        if not isinstance(document, dict):
            raise ValueError(f"{args.mapping} does not hold a JSON object")
        if isinstance(document.get("mapping"), dict):
            mapping = document["mapping"]
            import_type = import_type or document.get("import_type")
        else:
            mapping = document
    elif args.profile and import_type is None:
        import_type = client.get_profile(args.profile)["import_type"]
    return mapping, import_type


def _declare(
    client: IntakeClient, args: argparse.Namespace, *, auto_import: bool
) -> dict[str, Any]:
    mapping, import_type = _mapping_and_type(client, args)
    return client.declare_path(
        args.file,
        import_type=import_type,
        mapping=mapping,
        profile=args.profile,
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
    with progress.ProgressBars(progress.wanted(args.quiet)) as bars:
        file = client.wait_for(
            file_id,
            FINAL_STATUSES,
            timeout=args.timeout,
            on_poll=bars.import_progress(f"import {file_id}"),
        )
    _print(file)
    return 0 if file["status"] in ("SUCCEEDED", "VALIDATED") else EXIT_UNEXPECTED_STATE


def _upload(
    client: IntakeClient, args: argparse.Namespace, declared: dict[str, Any], *, size: int
) -> dict[str, Any]:
    """Send the file with a declaration's (or GET /files/{file_id}/upload's) block, with a
    bar for the bytes; on an interruption, say how to resume."""
    file_id = declared.get("file_id")
    already = sum(int(p["size"]) for p in declared["upload"].get("uploaded") or [])
    try:
        with progress.ProgressBars(progress.wanted(args.quiet)) as bars:
            return client.upload(
                declared,
                path=args.file,
                on_sent=bars.bytes_sent(f"upload {args.file}", size, already),
                workers=args.parallel,
            )
    except BaseException:
        if file_id:
            print(_stopped_upload(client, file_id, args.file), file=sys.stderr)
        raise


def _stopped_upload(client: IntakeClient, file_id: str, path: str) -> str:
    """What to do after an upload stopped: resume it, or, when S3 had already completed it
    (stopped during the completion's answer), follow the file."""
    try:
        status = client.get_file(file_id)["status"]
        if status == "PENDING_UPLOAD":
            client.upload_block(file_id)  # 409 once S3 has the whole object (checked later)
    except IntakeApiError as exc:
        status = "PENDING_UPLOAD" if exc.status != 409 else "uploaded, being checked"
    except Exception:  # the API is unreachable too: resuming is still the way
        status = "PENDING_UPLOAD"
    if status == "PENDING_UPLOAD":
        return (
            f"intake: the upload of {file_id} stopped; continue it with: "
            f"intake send --resume {file_id} {path}"
        )
    return (
        f"intake: the upload of {file_id} had completed when it stopped ({status}); "
        f"follow it with: intake status {file_id} --wait"
    )


def _send(client: IntakeClient, args: argparse.Namespace) -> int:
    size = os.path.getsize(args.file)
    if args.resume:
        file_id = args.resume
        declared_size = client.get_file(file_id)["size"]
        if declared_size != size:
            raise ValueError(
                f"{args.file} has {size} bytes; {file_id} was declared with {declared_size}"
            )
        declared = client.upload_block(file_id)
        block = declared["upload"]
        if block["method"] == "MULTIPART":
            held, left = len(block.get("uploaded") or []), len(block.get("parts") or [])
            print(
                f"resuming {file_id}: {held} of {held + left} parts already uploaded, "
                f"sending {left}",
                file=sys.stderr,
            )
    else:
        if not (args.import_type or args.mapping or args.profile):
            print(
                "intake: send needs --type (or a --profile, or a --mapping document naming "
                "one); `intake analyse FILE` suggests the type and mapping",
                file=sys.stderr,
            )
            return EXIT_USAGE
        declared = _declare(client, args, auto_import=not args.no_import)
        file_id = declared["file_id"]
    _upload(client, args, declared, size=size)
    print(f"uploaded {args.file} as {file_id}", file=sys.stderr)
    if not args.wait:
        _print({"file_id": file_id, "status": "PENDING_UPLOAD"})
        return 0
    if args.no_import or (args.resume and not client.get_file(file_id)["auto_import"]):
        file = client.wait_for(file_id, {"UPLOADED"}, timeout=args.timeout)
        if not args.no_import and file["status"] == "UPLOADED":
            print(
                f"intake: {file_id} was declared without auto_import, so no import starts by "
                f"itself; start one with: intake import {file_id} --wait",
                file=sys.stderr,
            )
        _print(file)
        return 0 if file["status"] == "UPLOADED" else EXIT_UNEXPECTED_STATE
    return _wait_final(client, file_id, args)


def run(args: argparse.Namespace) -> int:
    client = IntakeClient(args.api_url, args.token, timeout=args.http_timeout)
    if args.command == "declare":
        _print(_declare(client, args, auto_import=args.auto_import))
    elif args.command == "upload":
        text = sys.stdin.read() if args.declaration == "-" else open(args.declaration).read()  # noqa: SIM115
        declared = json.loads(text)
        result = _upload(client, args, declared, size=os.path.getsize(args.file))
        _print({"file_id": declared.get("file_id"), **result})
    elif args.command == "import":
        mapping, import_type = _mapping_and_type(client, args)
        accepted = client.request_import(
            args.file_id,
            check_only=args.check_only,
            on_invalid=args.on_invalid,
            import_type=import_type,
            mapping=mapping,
            profile=args.profile,
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
    elif args.command in ("analyse", "analyze"):
        return _analyse(client, args)
    elif args.command == "send":
        return _send(client, args)
    return 0


def _analyse(client: IntakeClient, args: argparse.Namespace) -> int:
    declared = client.declare_path(args.file, media_type=args.media_type, name=args.name)
    file_id = declared["file_id"]
    client.upload(declared, path=args.file)
    print(f"uploaded {args.file} as {file_id}; analysing", file=sys.stderr)
    file = client.wait_for(file_id, {"UPLOADED"}, timeout=args.timeout)
    if file["status"] != "UPLOADED":
        print(f"intake: {file_id} is {file['status']}: {file.get('reason')}", file=sys.stderr)
        return EXIT_UNEXPECTED_STATE
    analysis = file.get("analysis") or {}
    suggestions = analysis.get("suggestions") or []
    if analysis.get("error"):
        error = analysis["error"]
        print(f"intake: {error.get('code')}: {error.get('message')}", file=sys.stderr)
    if not suggestions:
        print(f"intake: no import type fits {args.file}", file=sys.stderr)
        return EXIT_UNEXPECTED_STATE
    for suggestion in suggestions:
        missing = suggestion.get("missing") or []
        print(
            f"  {suggestion['import_type']}: score {suggestion['score']:.2f}, "
            f"{suggestion.get('rows_valid', 0)} of {analysis.get('rows_sampled', 0)} sampled "
            "rows valid" + (f", no column for {', '.join(missing)}" if missing else ""),
            file=sys.stderr,
        )
    for note in suggestions[0].get("notes") or []:
        print(f"  note: {note}", file=sys.stderr)
    top = suggestions[0]
    _print({"import_type": top["import_type"], "mapping": top["mapping"]})
    if top.get("missing"):
        # Printed all the same (a start to edit), but no script should save it as it is.
        print(
            f"intake: no type fits {args.file} as it is: add a mapping column for "
            f"{', '.join(top['missing'])} to this output before using it",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED_STATE
    print(
        f"import it: intake import {file_id} --mapping <this output>; "
        f"or save it: PUT /profiles/<name> with this output",
        file=sys.stderr,
    )
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
    except KeyboardInterrupt:
        print("intake: interrupted", file=sys.stderr)  # what to do next is said already
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
