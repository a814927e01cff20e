/**
 * The access token for gateways with AUTH_MODE=jwt, from whichever source
 * gave it last: the Settings field, a message from the page that embeds this
 * one in a frame, or `?token=` in the page's URL once the person agreed:
 *
 *   frame.contentWindow.postMessage({ type: "tus-edge:token", token }, gatewayOrigin)
 *
 * The page tells its parent `{ type: "tus-edge:ready" }` when it listens, so
 * the parent knows when to send (and may send again before a token expires).
 * Only a parent of an origin the gateway lists (UPLOAD_PAGE_EMBED_ORIGINS)
 * is heard or told anything: any other site that frames the page could
 * otherwise make a person upload into the site's own account.
 *
 * A token in the page's address is held back for the same reason: anyone can
 * send a link, and a link with an attacker's token would make the person who
 * opens it upload into the attacker's account, where the attacker lists and
 * downloads the files. So it is `linkToken` until the person, shown whose
 * token it is (link-token-prompt.ts), uses it or discards it; until then the
 * page keeps the token it had and no request carries the link's.
 *
 * The token goes only to gateways the page trusts (gateway-trust.ts), as a
 * header or on a download link: never to a URL that merely turned up in the
 * page's address or storage.
 *
 * The token is kept in sessionStorage: it survives a reload of this tab and
 * nothing more.
 */
import { byId } from "./dom";
import type { GatewayTrust } from "./gateway-trust";

const STORAGE_KEY = "tus-edge:token";

export class TokenStore {
  private value = "";
  /** The origin of the frame's parent once it sent a token (always a listed one): finished uploads are reported to it. */
  embedderOrigin: string | undefined;
  /** The token from `?token=`, not used until `useLinkToken()`; undefined when there was none or once decided. */
  private pendingLinkToken: string | undefined;
  private onChange: () => void = () => {};

  constructor(private readonly trust: GatewayTrust) {
    try {
      this.value = sessionStorage.getItem(STORAGE_KEY) ?? "";
    } catch {
      this.value = "";
    }
    const url = new URL(location.href);
    const fromUrl = url.searchParams.get("token");
    if (fromUrl !== null) {
      this.pendingLinkToken = fromUrl.trim() || undefined;
      // Out of the address bar, the history and any Referer, whatever the person decides.
      url.searchParams.delete("token");
      history.replaceState(history.state, "", url.href);
    }
  }

  /** The token the page's address carried, while the person has not decided about it. */
  get linkToken(): string | undefined {
    return this.pendingLinkToken;
  }

  /** The person chose to use the address's token: from now on it is the page's token. */
  useLinkToken(): void {
    const token = this.pendingLinkToken;
    this.pendingLinkToken = undefined;
    if (token !== undefined) this.set(token);
  }

  /** The person refused the address's token: it is forgotten, and the page's token stays what it was. */
  discardLinkToken(): void {
    this.pendingLinkToken = undefined;
  }

  get(): string {
    return this.value;
  }

  set(token: string): void {
    this.value = token.trim();
    try {
      if (this.value) sessionStorage.setItem(STORAGE_KEY, this.value);
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // Storage refused (private mode, sandboxed frame): the token lasts until the page is closed.
    }
    const input = document.getElementById("token") as HTMLInputElement | null;
    if (input && input.value !== this.value) input.value = this.value;
    this.onChange();
  }

  /** `Authorization` header value for a request to `url`; undefined without a token or for a gateway the page does not trust. */
  authorizationFor(url: string): string | undefined {
    return this.value && this.trust.trusts(url) ? `Bearer ${this.value}` : undefined;
  }

  /** A GET URL that carries the token, for links (a link cannot send headers); only to a gateway the page trusts. */
  withAccessToken(url: string): string {
    if (!this.value || !this.trust.trusts(url)) return url;
    const withToken = new URL(url);
    withToken.searchParams.set("access_token", this.value);
    return withToken.href;
  }

  /** Wires the Settings field and the embedding page's messages; `onChange` runs after every new token. */
  bind(onChange: () => void): void {
    this.onChange = onChange;
    const input = byId<HTMLInputElement>("token");
    input.value = this.value;
    input.addEventListener("change", () => this.set(input.value));
    if (window.parent === window) return;
    window.addEventListener("message", (event: MessageEvent) => {
      // Only the frame's own parent, and only on an origin the gateway lists, may set the token.
      if (event.source !== window.parent || !this.trust.allowsEmbedder(event.origin)) return;
      const data = event.data as { type?: unknown; token?: unknown } | null;
      if (data?.type !== "tus-edge:token" || typeof data.token !== "string") return;
      this.embedderOrigin = event.origin;
      this.set(data.token);
    });
    // Addressed to each listed origin: the browser delivers it only if the parent is on that origin.
    for (const origin of this.trust.embedOrigins) window.parent.postMessage({ type: "tus-edge:ready" }, origin);
  }
}
