"""The wire between producers (the plant simulator, benches, a real plant's gateway) and the
ingest worker: MQTT topics (`topics`), the binary payload codec (`codec`), the MQTT client
factory (`mqtt`: broker URLs, TLS, credentials) and Sparkplug B (`sparkplug`: the Tahu payload
schema and topic namespace; `sparkplug_map`: the plant's mapping of edge nodes, devices and
metrics). A foundation: it imports only `phm.plant`, `phm.records` and `phm.errors`, so the
simulator and the ingest worker can both use it."""
