"""fastbp's version, and the version of the state its models save."""

__version__ = "0.1.0"

# Version of what a model saves (pickle, joblib, skops): plain arrays and
# values, no private classes. 1: the network and optimizer as dicts of
# arrays. Models saved before versioning (format 0) held the objects
# themselves and still load. A file of a newer format than this fastbp
# reads is refused with a clear error.
STATE_FORMAT = 1
