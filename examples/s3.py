#!/usr/bin/env python3
"""The boto3 example of WEKA's S3 guide (s3.py), pointed at sluice.

Start `sluice serve`, then:
    SLUICE_ENDPOINT=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... python3 s3.py
in a folder holding `myfile`. The only changes to the guide's script: the
endpoint and keys come from the environment, and the bucket is created if it
does not exist yet.
"""
import logging
import os

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

config = Config(
   signature_version='s3v4'
)

s3 = boto3.resource('s3',
                    endpoint_url=os.environ.get('SLUICE_ENDPOINT', 'http://127.0.0.1:9000'),
                    aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'],
                    aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY'],
                    region_name='us-east-1',
                    config=config)

try:
  if s3.Bucket('mybucket1').creation_date is None:
    s3.create_bucket(Bucket='mybucket1')

  # upload a file from the local filesystem 'myfile' to bucket 'mybucket1' with 'my_uploaded_object' as the object name.
  s3.Bucket('mybucket1').upload_file('myfile', 'my_uploaded_object')

  # download the object 'myfile' from the bucket 'mybucket1' and save it to the local filesystem as my_downloaded_object.
  s3.Bucket('mybucket1').download_file('my_uploaded_object', 'my_downloaded_object')

except ClientError as e:
        logging.error(e)

print("Downloaded 'my_downloaded_object' as 'my_uploaded_object'. a")
