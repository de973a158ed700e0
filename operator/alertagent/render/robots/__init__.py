"""Robot messages (pure): Alertmanager webhook payloads rendered into DingTalk, WeCom and Feishu/Lark
robot requests (templates, mentions, signing, splitting) and the robots' answers classified.
`models` is the contract between the operator, which resolves each gateway channel into the channels
file, and the gateway process (`alertagent.gateway`), which receives, queues and delivers."""
