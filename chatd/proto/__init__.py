"""Protocol front-ends: wire input -> intents at the edge, outcomes -> their own bytes."""
