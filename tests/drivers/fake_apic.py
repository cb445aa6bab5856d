"""A small stateful APIC speaking the documented REST API, for injection as an httpx transport.

It answers aaaLogin / aaaRefresh (APIC-cookie), `GET /api/mo/<dn>.json` (query-target self|subtree),
`GET /api/class/<class>.json` (query-target-filter with eq/ne/wcard/and/or, rsp-subtree=full), paging
(`page` 0-based, `page-size`, `totalCount` as a string), and `POST /api/mo/<dn>.json` subtrees with
per-MO `status` applied as one unit. Errors use the APIC envelope
`{"totalCount":"1","imdata":[{"error":{"attributes":{"code":..,"text":..}}}]}`.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import httpx

Store = dict[str, tuple[str, dict[str, str]]]
NAMING: dict[str, tuple[str, str, bool]] = {  # class -> (rn prefix, naming property, bracketed)
    "fvTenant": ("tn-", "name", False), "fvCtx": ("ctx-", "name", False), "l3extOut": ("out-", "name", False),
    "l3extLNodeP": ("lnodep-", "name", False), "l3extRsNodeL3OutAtt": ("rsnodeL3OutAtt-", "tDn", True),
    "l3extLIfP": ("lifp-", "name", False), "l3extRsPathL3OutAtt": ("rspathL3OutAtt-", "tDn", True),
    "ipRouteP": ("rt-", "ip", True), "ipNexthopP": ("nh-", "nhAddr", True), "bgpPeerP": ("peerP-", "addr", True),
    "tagAnnotation": ("annotationKey-", "key", True), "rtctrlSubjP": ("subj-", "name", False),
    "rtctrlMatchRtDest": ("dest-", "ip", True), "rtctrlProfile": ("prof-", "name", False),
    "rtctrlCtxP": ("ctx-", "name", False), "rtctrlRsCtxPToSubjP": ("rsctxPToSubjP-", "tnRtctrlSubjPName", False),
    "bgpPeerPfxPol": ("bgpPfxP-", "name", False),
    "l3extInstP": ("instP-", "name", False), "l3extSubnet": ("extsubnet-", "ip", True),
    "fvRsProv": ("rsprov-", "tnVzBrCPName", False), "fvRsCons": ("rscons-", "tnVzBrCPName", False),
    "vzBrCP": ("brc-", "name", False), "vzSubj": ("subj-", "name", False),
    "vzRsSubjFiltAtt": ("rssubjFiltAtt-", "tnVzFilterName", False), "vzFilter": ("flt-", "name", False),
    "vzEntry": ("e-", "name", False),
}
# The APIC reports well-known filter entry ports by name, whatever was posted.
PORT_NAMES = {"20": "ftpData", "22": "ssh", "25": "smtp", "53": "dns", "80": "http", "110": "pop3", "443": "https",
              "554": "rtsp"}
PORT_PROPERTIES = ("dFromPort", "dToPort", "sFromPort", "sToPort")
DESCR = re.compile(r"[a-zA-Z0-9\\!#$%()*,\-./:;@ _{|}~?&+]{0,128}")
FIXED = {"bgpAsP": "as", "bgpLocalAsnP": "localasn", "bgpRsPeerPfxPol": "rspeerPfxPol", "polUni": "uni"}
READ_ONLY = {"childAction": "", "lcOwn": "local", "modTs": "2026-11-26T10:00:00.000+00:00", "status": "",
             "uid": "15374", "userdom": ":all:"}


class ApicError(Exception):
    def __init__(self, http: int, code: str, text: str) -> None:
        super().__init__(text)
        self.http, self.code, self.text = http, code, text


def envelope(items: list[Any], total: int | None = None) -> dict[str, Any]:
    return {"totalCount": str(len(items) if total is None else total), "imdata": items}


def error_body(code: str, text: str) -> dict[str, Any]:
    return envelope([{"error": {"attributes": {"code": code, "text": text}}}])


def rn_of(cls: str, attrs: dict[str, str]) -> str:
    if "rn" in attrs:
        return attrs["rn"]
    if cls in FIXED:
        return FIXED[cls]
    if cls == "bgpRsPeerToProfile":
        return f"rspeerToProfile-[{attrs['tDn']}]-{attrs['direction']}"
    if cls not in NAMING:
        raise ApicError(400, "122", f"unknown managed object class {cls}")
    prefix, prop, bracketed = NAMING[cls]
    if prop not in attrs:
        raise ApicError(400, "107", f"Naming property {prop} of class {cls} is missing")
    return f"{prefix}[{attrs[prop]}]" if bracketed else f"{prefix}{attrs[prop]}"


class FakeApic:
    """The APIC's managed object tree in memory, behind an httpx transport."""

    def __init__(self, *, username: str = "admin", password: str = "fake-apic-password",
                 refresh_timeout: int = 600) -> None:
        self.username, self.password, self.refresh_timeout = username, password, refresh_timeout
        self.mos: Store = {"uni": ("polUni", {})}
        self.tokens: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.posts: list[Any] = []
        self.poisoned = False
        self.faults: list[Callable[[httpx.Request], httpx.Response | None]] = []

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- state -----------------------------------------------------------------------------------
    def load(self, tree: list[dict[str, Any]]) -> None:
        """Seed from APIC JSON MOs with `dn` at the top level and nested children."""
        for item in tree:
            self._write(self.mos, item, None)

    def subtree(self, dn: str) -> Store:
        return {d: v for d, v in self.mos.items() if d == dn or d.startswith(dn + "/")}

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for fault in list(self.faults):
            answer = fault(request)
            if answer is not None:
                return answer
        if self.poisoned:
            return httpx.Response(500, json=error_body("500", "poisoned: the test forbids any request now"))
        try:
            return self._route(request)
        except ApicError as exc:
            return httpx.Response(exc.http, json=error_body(exc.code, exc.text))

    def _route(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/api/aaaLogin.json" and method == "POST":
            return self._login(json.loads(request.content))
        if path == "/api/aaaRefresh.json" and method == "GET":
            self._authorize(request)
            return self._token_response()
        self._authorize(request)
        match = re.fullmatch(r"/api/(?:node/)?(mo|class)/(.+)\.json", path)
        if match is None:
            raise ApicError(400, "400", f"Request failed, unresolved path {path}")
        kind, name = match.groups()
        params = dict(request.url.params)
        if method == "GET":
            items = self._get_mo(name, params) if kind == "mo" else self._get_class(name, params)
            return httpx.Response(200, json=_page(items, params))
        if method == "POST" and kind == "mo":
            return self._post(name, json.loads(request.content))
        raise ApicError(400, "400", f"method {method} not allowed on {path}")

    def _login(self, body: dict[str, Any]) -> httpx.Response:
        attrs = body.get("aaaUser", {}).get("attributes", {})
        if attrs.get("name") != self.username or attrs.get("pwd") != self.password:
            raise ApicError(401, "401", "Username or password is incorrect - FAILED local authentication")
        return self._token_response()

    def _token_response(self) -> httpx.Response:
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        attrs = {"token": token, "siteFingerprint": "Yb5WkJ0Kq6hj8JZP",
                 "refreshTimeoutSeconds": str(self.refresh_timeout),
                 "maximumLifetimeSeconds": "86400", "guiIdleTimeoutSeconds": "1200", "restTimeoutSeconds": "90",
                 "creationTime": "1764150000", "firstLoginTime": "1764150000", "userName": self.username,
                 "remoteUser": "false", "unixUserId": "15374", "sessionId": "kB3+Xg1PQrS1i0uhlCZ0Kw==",
                 "lastName": "", "firstName": "", "version": "5.2(8e)", "buildTime": "Fri Jun 02 11:21:49 UTC 2023",
                 "node": "topology/pod-1/node-1"}
        return httpx.Response(200, json=envelope([{"aaaLogin": {"attributes": attrs}}]),
                              headers={"set-cookie": f"APIC-cookie={token}; path=/; HttpOnly; secure"})

    def _authorize(self, request: httpx.Request) -> None:
        cookie = request.headers.get("cookie", "")
        token = re.search(r"APIC-cookie=([^;]+)", cookie)
        if token is None or token.group(1) not in self.tokens:
            raise ApicError(403, "403", "Token was invalid (Error: Token timeout)")

    # -- reads -----------------------------------------------------------------------------------
    def _get_mo(self, dn: str, params: dict[str, str]) -> list[Any]:
        if dn not in self.mos:
            return []
        target = params.get("query-target", "self")
        dns = sorted(self.subtree(dn)) if target == "subtree" else [dn]
        if target == "children":
            dns = sorted(d for d in self.mos if _parent(d) == dn)
        return [self._flat(d) for d in dns if self._class_ok(d, params.get("target-subtree-class"))]

    def _get_class(self, cls: str, params: dict[str, str]) -> list[Any]:
        test = _filter(params.get("query-target-filter", ""))
        dns = sorted(d for d, (c, a) in self.mos.items() if c == cls and test(c, {**a, "dn": d}))
        full = params.get("rsp-subtree") == "full"
        return [self._nested(d) if full else self._flat(d) for d in dns]

    def _class_ok(self, dn: str, classes: str | None) -> bool:
        return classes is None or self.mos[dn][0] in classes.split(",")

    def _flat(self, dn: str) -> dict[str, Any]:
        cls, attrs = self.mos[dn]
        return {cls: {"attributes": {"annotation": "", **attrs, **READ_ONLY, "dn": dn}}}

    def _nested(self, dn: str, top: bool = True) -> dict[str, Any]:
        cls, attrs = self.mos[dn]
        key = {"dn": dn} if top else {"rn": dn[len(_parent(dn)) + 1:]}
        body: dict[str, Any] = {"attributes": {"annotation": "", **attrs, **READ_ONLY, **key}}
        kids = [self._nested(d, False) for d in sorted(self.mos) if _parent(d) == dn]
        if kids:
            body["children"] = kids
        return {cls: body}

    # -- writes ----------------------------------------------------------------------------------
    def _post(self, dn: str, body: dict[str, Any]) -> httpx.Response:
        self.posts.append(copy.deepcopy(body))
        ((cls, payload),) = body.items()
        if payload.get("attributes", {}).get("dn", dn) != dn:
            raise ApicError(400, "400", f"dn in the payload does not match the URL {dn}")
        draft = dict(self.mos)
        self._write(draft, {cls: {**payload, "attributes": {**payload.get("attributes", {}), "dn": dn}}}, None)
        self.mos = draft
        return httpx.Response(200, json=envelope([]))

    def _write(self, store: Store, item: dict[str, Any], parent: str | None) -> None:
        ((cls, body),) = item.items()
        attrs = {k: str(v) for k, v in body.get("attributes", {}).items()}
        dn = attrs.pop("dn", None) or f"{parent}/{rn_of(cls, attrs)}"
        attrs.pop("rn", None)
        status = attrs.pop("status", "")
        if status == "deleted":
            for d in [d for d in store if d == dn or d.startswith(dn + "/")]:
                del store[d]
            return
        if _parent(dn) not in store and _parent(dn) != "":
            raise ApicError(400, "103", f"Cannot create object: parent {_parent(dn)} of {dn} does not exist")
        if status == "created" and dn in store:
            raise ApicError(400, "103", f"Cannot create object {dn}: it already exists")
        _validate(dn, cls, attrs)
        old = store.get(dn, (cls, {}))[1]
        store[dn] = (cls, {**old, **attrs})
        for child in body.get("children", []) or []:
            self._write(store, child, dn)


def _validate(dn: str, cls: str, attrs: dict[str, str]) -> None:
    """The property checks the APIC makes that the driver's payloads could fail; ports normalised as it does."""
    if "descr" in attrs and DESCR.fullmatch(attrs["descr"]) is None:
        raise ApicError(400, "801", f"property descr of {dn} failed validation for value '{attrs['descr']}'")
    if cls == "vzEntry":
        for name in PORT_PROPERTIES:
            if name in attrs:
                attrs[name] = PORT_NAMES.get(attrs[name], attrs[name])


def _parent(dn: str) -> str:
    depth, cut = 0, -1
    for index, char in enumerate(dn):
        depth += (char == "[") - (char == "]")
        if char == "/" and depth == 0:
            cut = index
    return dn[:cut] if cut >= 0 else ""


def _page(items: list[Any], params: dict[str, str]) -> dict[str, Any]:
    if "page-size" not in params:
        return envelope(items)
    size, page = int(params["page-size"]), int(params.get("page", "0"))
    return envelope(items[page * size:(page + 1) * size], total=len(items))


def _filter(expr: str) -> Callable[[str, dict[str, str]], bool]:
    """A query-target-filter expression as a predicate; eq, ne, wcard (substring), and, or."""
    if not expr:
        return lambda cls, attrs: True
    match = re.fullmatch(r"(\w+)\((.*)\)", expr)
    if match is None:
        raise ApicError(400, "400", f"invalid query-target-filter {expr!r}")
    op, inner = match.groups()
    if op in ("and", "or"):
        parts = [_filter(p) for p in _split_args(inner)]
        combine = all if op == "and" else any
        return lambda cls, attrs: combine(p(cls, attrs) for p in parts)
    prop, value = (a.strip() for a in _split_args(inner))
    klass, _, name = prop.partition(".")
    value = value.strip('"')
    tests = {"eq": lambda v: v == value, "ne": lambda v: v != value, "wcard": lambda v: re.search(value, v) is not None}
    if op not in tests:
        raise ApicError(400, "400", f"unsupported filter operator {op}")
    return lambda cls, attrs: cls == klass and tests[op](attrs.get(name, ""))


def _split_args(text: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        quoted ^= char == '"'
        if not quoted:
            depth += (char == "(") - (char == ")")
            if char == "," and depth == 0:
                parts.append(text[start:index])
                start = index + 1
    return [*parts, text[start:]]
