"""The bad-input suite: 124 cases, each a real request to the local stack over HTTP.

What a hostile or broken client sends, and the one answer each must get:
- test_tokens: missing, forged (alg none, HS256 with the public key, a foreign key, tampered
  signature or claims), expired, not yet valid, wrong-issuer and wrong-audience tokens -> 401
  {"message": "Unauthorized"}; a missing scope -> 403 {"message": "Forbidden"}; a path-like
  or empty tenant claim -> 403;
- test_declarations: malformed, deeply nested and oversized bodies (400, 413); wrong types,
  missing and unknown fields, path-like names, control characters, lone surrogates, hostile
  metadata keys, unknown import types (422); a size over the type's limit (413); a media type
  the type does not take (415); bad listing queries (400, 422);
- test_tenancy: another tenant's file id (read or imported: 404) and cursor (400); path-like
  file ids (422); an import before the upload (409); bad import requests, which leave the
  file as it was;
- test_uploads: bytes larger or smaller than declared, a checksum mismatch, wrong magic bytes,
  another Content-Type -> REJECTED with the reason, nothing imported, no import afterwards;
- test_headers: a long junk token -> 401; headers over 10 KB, a header line over 64 KiB,
  more than 100 headers -> 431 {"message": "Request Header Fields Too Large"}.

Every case also asserts no 5xx (tests.e2e.support.Api.call) and that nothing was stored: the
tenant's listing still answers (filtered too) and shows no new file, its status-table
partition holds nothing else, and no row reached the records table.
test_docstring keeps the count above true.
"""
