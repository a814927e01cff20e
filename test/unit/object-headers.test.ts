import { describe, expect, it } from "vitest";
import { contentDisposition, safeContentType } from "../../src/protocol/http/object-headers";

const OCTET_STREAM = "application/octet-stream";

describe("safeContentType", () => {
  it.each([
    "image/png",
    "application/pdf",
    "text/plain; charset=utf-8",
    "text/plain;charset=UTF-8",
    'multipart/form-data; boundary="a b;c"',
    'text/plain; x="quoted \\" escape"',
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/x-tar; a=1; b=2",
    "video/mp4;",
  ])("keeps the valid media type %j", (filetype) => {
    expect(safeContentType(filetype)).toBe(filetype);
  });

  it.each([
    ["no filetype", undefined],
    ["an empty filetype", ""],
    ["a type without a subtype", "image"],
    ["an empty subtype", "image/"],
    ["two slashes", "image/png/x"],
    ["a space inside the type", "image /png"],
    ["surrounding whitespace", " image/png"],
    ["a line break for header injection", "text/html\r\nSet-Cookie: a=b"],
    ["a newline in a parameter", "text/plain; charset=utf-8\n"],
    ["a tab", "text/plain;\tcharset=utf-8"],
    ["a NUL", "text/plain\u0000"],
    ["non-ASCII", "image/pñg"],
    ["a parameter without a value", "text/plain; charset"],
    ["a parameter with an empty value", "text/plain; charset="],
    ["an unterminated quoted string", 'text/plain; x="abc'],
    ["a bare quote in a quoted string", 'text/plain; x="a"b"'],
    ["a separator in a token", "text/pl@in"],
    ["more than 255 characters", `application/${"x".repeat(250)}`],
  ])("replaces %s with application/octet-stream", (_, filetype) => {
    expect(safeContentType(filetype)).toBe(OCTET_STREAM);
  });

  it("keeps a media type of exactly 255 characters", () => {
    const filetype = `application/${"x".repeat(243)}`;
    expect(filetype).toHaveLength(255);
    expect(safeContentType(filetype)).toBe(filetype);
  });
});

describe("contentDisposition", () => {
  it.each([
    ["report.pdf", `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`],
    ["my file (1).txt", `attachment; filename="my file (1).txt"; filename*=UTF-8''my%20file%20%281%29.txt`],
    ["résumé.pdf", `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`],
    ["履歴書.pdf", `attachment; filename="___.pdf"; filename*=UTF-8''%E5%B1%A5%E6%AD%B4%E6%9B%B8.pdf`],
    ["📄.txt", `attachment; filename="_.txt"; filename*=UTF-8''%F0%9F%93%84.txt`],
    ['say "hi".txt', `attachment; filename="say _hi_.txt"; filename*=UTF-8''say%20%22hi%22.txt`],
    ["100%.txt", `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`],
    ["a'b;c=d.txt", `attachment; filename="a'b;c=d.txt"; filename*=UTF-8''a%27b%3Bc%3Dd.txt`],
    ["!#$&+-.^_`|~", `attachment; filename="!#$&+-.^_\`|~"; filename*=UTF-8''!#$&+-.^_\`|~`],
  ])("names %j", (filename, expected) => {
    expect(contentDisposition(filename)).toBe(expected);
  });

  it.each([
    ["a Unix path traversal", "../../etc/passwd", "passwd"],
    ["a Windows path", "C:\\Users\\me\\secret.docx", "secret.docx"],
    ["a mixed path", "a/b\\c.txt", "c.txt"],
    ["a line break for header injection", "evil\r\nSet-Cookie: a=b.txt", "evilSet-Cookie: a=b.txt"],
    ["a NUL", "a\u0000b.txt", "ab.txt"],
    ["C1 controls", "a\u0085\u009fb.txt", "ab.txt"],
    ["a tab and DEL", "a\tb\u007f.txt", "ab.txt"],
    ["surrounding whitespace", "  spaced.txt  ", "spaced.txt"],
  ])("strips %s down to a plain name", (_, filename, name) => {
    expect(contentDisposition(filename)).toBe(contentDisposition(name));
    expect(contentDisposition(filename)).toContain(`filename="${name}"`);
  });

  it.each([
    ["no filename", undefined],
    ["an empty filename", ""],
    ["whitespace", "   "],
    ["only controls", "\r\n\u0000"],
    ["a trailing slash", "folder/"],
    ["a trailing backslash", "folder\\"],
    ["a dot", "."],
    ["two dots", ".."],
    ["a path ending in two dots", "a/b/.."],
    ["two dots after controls are removed", ".\n."],
  ])("is plain attachment for %s", (_, filename) => {
    expect(contentDisposition(filename)).toBe("attachment");
  });

  it("caps a long name at 255 UTF-16 units", () => {
    const header = contentDisposition(`${"a".repeat(300)}.txt`);
    expect(header).toBe(`attachment; filename="${"a".repeat(255)}"; filename*=UTF-8''${"a".repeat(255)}`);
  });

  it("does not cut an emoji in half when capping", () => {
    const header = contentDisposition(`${"a".repeat(254)}📄📄`);
    expect(header).toBe(`attachment; filename="${"a".repeat(254)}"; filename*=UTF-8''${"a".repeat(254)}`);
  });

  it("keeps an emoji that ends exactly at the cap", () => {
    const header = contentDisposition(`${"a".repeat(253)}📄📄`);
    expect(header).toBe(`attachment; filename="${"a".repeat(253)}_"; filename*=UTF-8''${"a".repeat(253)}%F0%9F%93%84`);
  });

  it("never throws on a lone surrogate", () => {
    expect(contentDisposition("a\ud800b.txt")).toBe(`attachment; filename="a_b.txt"; filename*=UTF-8''a%EF%BF%BDb.txt`);
  });

  it.each([
    "../../etc/passwd",
    "evil\r\n.txt",
    '"; filename="x.html',
    "履歴書 📄 résumé.pdf",
    "\u0085\u2028\u2029.txt",
    "x".repeat(5000),
  ])("builds a value the Headers API accepts from %j", (filename) => {
    const value = contentDisposition(filename);
    expect(() => new Headers({ "Content-Disposition": value })).not.toThrow();
    expect(value).toMatch(/^[\x20-\x7e]+$/);
  });
});
