"""Protocol front-ends: wire bytes <-> the chat core's intents and outcomes."""
