"""Development delivery: append each message to a JSON-lines file (the dev outbox,
``GATEHOUSE_OUTBOX``, listed at ``/dev/outbox``).

This is the only place a code is written in clear, and only in development: production
refuses the outbox sender at boot (Settings.check).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from idp.otp.senders.base import DeliveryError, Message

_lock = threading.Lock()


class OutboxSender:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def deliver(self, message: Message) -> None:
        record = {
            "channel": message.channel,
            "to": message.to,
            "usage": message.usage,
            "code": message.code,
            "text": message.text,
            "sent_at": datetime.now(UTC).isoformat(),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # one write() of one line with O_APPEND: lines from several workers never interleave
            with _lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
        except OSError as exc:
            raise DeliveryError(f"outbox not writable: {exc.strerror}") from exc

    def read(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest ``limit`` records, newest first."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in reversed(lines[-limit:]) if line.strip()]
