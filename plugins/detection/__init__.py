"""Detection data and evaluation shared by the detection model plugins, and a plugin of its own.

``data``: the VOC, COCO and synthetic datasets, their transforms, loaders and the dataset
catalogue; ``evaluate``: VOC AP and COCO mAP. One reader per format, imported by every
detection plugin (EfficientDet, torchvision's detectors); the core stays model-agnostic.
``plugin``: what the package registers itself (entry point ``detection``): the VOC/COCO
downloads and the ``voc:``/``coco:`` dataset checks, so no detection model plugin owns them.
"""
