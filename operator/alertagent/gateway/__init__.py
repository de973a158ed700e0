"""The AlertAgent gateway process (`alertagent gateway`): Alertmanager's webhook in, DingTalk, WeCom and
Feishu/Lark robots out, through a persistent queue with per-robot rate limits and retries. What a
message looks like is decided by the pure `render.robots`."""
