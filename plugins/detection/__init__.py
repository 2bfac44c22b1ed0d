"""Detection data and evaluation shared by the detection model plugins (not a plugin itself).

``data``: the VOC, COCO and synthetic datasets, their transforms, loaders and the dataset
catalogue; ``evaluate``: VOC AP and COCO mAP. One reader per format, imported by every
detection plugin (EfficientDet, torchvision's detectors); the core stays model-agnostic.
"""
