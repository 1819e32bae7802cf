"""A simulated MQTT device in its own process, so that killing it is a real lost connection
and the broker publishes its last will.

    python -m simulate.mqtt_device PORT TOPIC '{"door": "closed", ...}'

Connects with a retained `{"state": "offline"}` will on TOPIC/status, publishes "online" and
its state (retained, QoS 1), then reads JSON lines on stdin: `{"state": {...}}` merges into the
state and republishes it, `{"event": "door_forced"}` publishes on TOPIC/event. Payloads follow
the shipped `access_controller` and `alarm_panel` templates (docs/mqtt-templates.md).
"""

import json
import signal
import sys
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

KEEPALIVE_S = 10


def merge(into: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`change` laid over `into`, nested objects merged key by key."""
    out = dict(into)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def main() -> None:
    port, topic, state = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    # Ctrl-C reaches the whole demo: leave quietly, the simulator stops the rest.
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{topic.replace('/', '-')}")
    client.will_set(f"{topic}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
    online = threading.Event()

    def on_connect(
        client: paho.Client, _userdata: object, _flags: object, _rc: object, _props: object
    ) -> None:
        client.publish(f"{topic}/status", json.dumps({"state": "online"}), qos=1, retain=True)
        client.publish(f"{topic}/state", json.dumps(state), qos=1, retain=True)
        online.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=KEEPALIVE_S)
    client.loop_start()
    if not online.wait(10):
        sys.exit(f"{topic}: no connection to the broker on port {port}")
    print("online", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "state" in command:
            state = merge(state, command["state"])
            client.publish(f"{topic}/state", json.dumps(state), qos=1, retain=True)
        if "event" in command:
            client.publish(f"{topic}/event", json.dumps({"type": command["event"]}), qos=1)
    client.loop_stop()


if __name__ == "__main__":
    main()
