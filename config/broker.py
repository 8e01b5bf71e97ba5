"""kombu's filesystem transport, with messages that appear only once fully written.

kombu 5.7 creates a message file under its final name and then writes it, while a consumer
renames and reads any file with that name it finds; a consumer polling at the same moment
reads an empty or partial message, and the worker stops with "Unrecoverable error:
JSONDecodeError". Here a message is written under a name no consumer looks at and then
renamed into place, which is atomic within one folder.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: write a hidden file, then rename it into the queue."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as f:
                f.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc
        finally:
            if os.path.exists(partial):
                os.unlink(partial)


class FilesystemTransport(filesystem.Transport):
    Channel = Channel
