"""Video files as samples: frame names, a frame index from one demux pass, and exact segments.

A video's frames are decoded in segments that start at keyframes, so that several tasks can
decode one video at once with no frame lost or repeated at the seams (`segments.py`), each
streaming one frame at a time (`decode.py`). PyAV (FFmpeg) decodes; docs/video.md says why.
"""
