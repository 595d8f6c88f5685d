"""The smallest handler, for the cold-start proxy's baseline: what Python and
bootstrap.py cost before any library is imported. Handler: ``hello.handler``."""


def handler(event, context):
    return {"statusCode": 200, "body": "hello"}
