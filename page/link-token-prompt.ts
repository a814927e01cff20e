/**
 * The question a page opened with `?token=` asks before it uses that token:
 * whose account it signs the person in to (the subject the token claims),
 * until when, and whether to use it. A link can come from anyone, so the
 * token in it is used only once the person says so (token.ts says why).
 *
 * A modal dialog: the person decides before choosing files, Escape and the
 * default button both discard (the safe answer), and every text the token
 * brings goes in as text: the subject is written by whoever made the link.
 */
import { announce, byId, h } from "./dom";
import type { TokenStore } from "./token";
import { readTokenClaims } from "./token-claims";

/** Fixed to English like the rest of the page; the long time style names the time zone. */
const EXPIRY = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "long" });

/** Shows the dialog for the page's pending link token; the person's answer uses or discards it. */
export function askAboutLinkToken(token: TokenStore): void {
  const linkToken = token.linkToken;
  if (linkToken === undefined) return;
  const dialog = byId<HTMLDialogElement>("link-token-dialog");
  const hadToken = token.get() !== "";
  byId("link-token-message").replaceChildren(...describe(linkToken, hadToken));
  byId("link-token-use").addEventListener("click", () => dialog.close("use"), { once: true });
  byId("link-token-discard").addEventListener("click", () => dialog.close("discard"), { once: true });
  // One place decides, however the dialog closed: anything but "Use this token" (Escape included) discards.
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue === "use") {
        token.useLinkToken();
        announce("Using the access token from the link");
      } else {
        token.discardLinkToken();
        announce(hadToken ? "Discarded the link's access token; your own token stays" : "Discarded the link's access token");
      }
    },
    { once: true },
  );
  dialog.showModal();
}

function describe(linkToken: string, hadToken: boolean): HTMLParagraphElement[] {
  const claims = readTokenClaims(linkToken);
  const who =
    claims === undefined
      ? h("p", {}, "This link carries an access token that this page cannot read, so it cannot tell whose account it signs you in to. Files you upload go to that account.")
      : claims.subject === undefined
        ? h("p", {}, "This link carries an access token that names no account (it has no subject). Files you upload go to whichever account it belongs to.")
        : h("p", {}, "This link signs you in as ", h("strong", { class: "token-subject" }, claims.subject), ". Files you upload go to that account.");
  const expiresAt = claims?.expiresAt;
  const expiry =
    expiresAt === undefined
      ? undefined
      : expiresAt.getTime() <= Date.now()
        ? h("p", {}, `The token expired on ${EXPIRY.format(expiresAt)}: the gateway will refuse it.`)
        : h("p", {}, `The token is valid until ${EXPIRY.format(expiresAt)}.`);
  const warning = h(
    "p",
    { class: "help" },
    "Use it only if you expect to upload into that account: its owner can list and download the files you upload. ",
    // The subject is what the token claims; only the gateway can check it, and does when the token is used.
    "This page cannot verify the token; the gateway checks it when you upload. ",
    hadToken ? "If you don't use it, the page keeps your current token." : "If you don't use it, the page has no token.",
  );
  return [who, ...(expiry ? [expiry] : []), warning];
}
