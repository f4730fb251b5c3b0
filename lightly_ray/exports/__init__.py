"""Exports of a dataset's tag: read URLs, Label Studio tasks, the embeddings CSV."""
