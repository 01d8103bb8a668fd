"""Studies: a typed, validated YAML file, expanded into (setup, seed) runs, run resumably into a store."""
