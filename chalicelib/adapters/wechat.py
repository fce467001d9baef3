"""WeChat mini-program login: ``code2Session`` (auth.code2Session).

The mini-program calls ``wx.login()`` and sends the one-time ``code`` (valid 5 minutes, usable
once); the server exchanges it for the user's ``openid`` and ``session_key``. The session key
never leaves the server. ``WeChatApi`` calls WeChat; ``LocalWeChat`` is the stand-in for the
``local`` stage and tests, with the same contract and the same error codes (40029 invalid
code, 40163 code already used, checked again by the use case for every stage).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

from .. import settings
from . import secrets

#: WeChat's error codes (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html)
ERR_INVALID_CODE = 40029
ERR_CODE_USED = 40163
ERR_RATE_LIMIT = 45011


@dataclass(frozen=True)
class WeChatSession:
    """What code2Session returns: ``openid`` (per mini-program user), ``session_key``
    (server-side only) and ``unionid`` when the app is bound to an open platform account."""

    openid: str
    session_key: str
    unionid: str | None = None


class WeChatLoginError(Exception):
    """code2Session refused the code; ``errcode`` is WeChat's number."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode


class WeChatApi:
    """The real code2Session over HTTPS (cloud stages). appid and AppSecret come from the
    ``bianmin/wechat`` secret."""

    URL = "https://api.weixin.qq.com/sns/jscode2session"

    def code2session(self, code: str) -> WeChatSession:
        """Exchange a login code. Raises :class:`WeChatLoginError`."""
        config = secrets.get_json_secret(settings.WECHAT_SECRET)
        query = urllib.parse.urlencode({"appid": config["appid"], "secret": config["secret"],
                                        "js_code": code, "grant_type": "authorization_code"})
        with urllib.request.urlopen(f"{self.URL}?{query}", timeout=5) as response:  # noqa: S310 (fixed https URL)
            body = json.loads(response.read().decode("utf-8"))
        if body.get("errcode"):
            raise WeChatLoginError(int(body["errcode"]), body.get("errmsg", ""))
        return WeChatSession(openid=body["openid"], session_key=body["session_key"], unionid=body.get("unionid"))


_LOCAL_CODE = re.compile(r"^local\.([A-Za-z0-9_-]{6,64})\.([0-9]{10})\.([0-9a-f]{8})\.([0-9a-f]{32})$")


def _local_signature(secret: str, openid: str, issued: int, nonce: str) -> str:
    return hmac.new(secret.encode(), f"{openid}.{issued}.{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def local_code_with_secret(secret: str, openid: str, issued: int | None = None) -> str:
    """A local login code ``local.<openid>.<issued>.<nonce>.<mac>`` signed with the local
    AppSecret ``secret``; every call gives a new code, like ``wx.login()``."""
    import secrets as random
    issued = int(time.time()) if issued is None else issued
    nonce = random.token_hex(4)
    return f"local.{openid}.{issued}.{nonce}.{_local_signature(secret, openid, issued, nonce)}"


def mint_local_code(openid: str, issued: int | None = None) -> str:
    """A login code the local stand-in accepts for ``openid`` (what ``wx.login()`` would give a
    phone; used by tests and ``python -m chalicelib.cli wx-code``). Valid 5 minutes, once."""
    return local_code_with_secret(secrets.get_json_secret(settings.WECHAT_SECRET)["secret"], openid, issued)


class LocalWeChat:
    """code2Session stand-in for the ``local`` stage: a code is ``local.<openid>.<issued>.<nonce>.<mac>``
    signed with the local AppSecret, so only codes minted for this stack work; expired (over
    5 minutes) or altered codes get 40029 like WeChat. Reuse is refused by the use case (40163)."""

    def code2session(self, code: str) -> WeChatSession:
        """Exchange a local login code. Raises :class:`WeChatLoginError`."""
        match = _LOCAL_CODE.fullmatch(code or "")
        if not match:
            raise WeChatLoginError(ERR_INVALID_CODE, "invalid code")
        openid, issued, nonce, mac = match.group(1), int(match.group(2)), match.group(3), match.group(4)
        secret = secrets.get_json_secret(settings.WECHAT_SECRET)["secret"]
        if not hmac.compare_digest(mac, _local_signature(secret, openid, issued, nonce)):
            raise WeChatLoginError(ERR_INVALID_CODE, "invalid code")
        if not -30 <= time.time() - issued <= settings.LOGIN_CODE_SECONDS:
            raise WeChatLoginError(ERR_INVALID_CODE, "code expired")
        session_key = base64.b64encode(hashlib.sha256(f"{mac}{issued}".encode()).digest()[:16]).decode()
        return WeChatSession(openid=openid, session_key=session_key)
