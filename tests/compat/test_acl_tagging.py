"""Object ownership as S3 sets it for every bucket made since April 2023
(BucketOwnerEnforced: ACLs disabled) and bucket tagging (issue 13). Before,
?acl and ?ownershipControls were NotImplemented and bucket ?tagging too,
so clients that read or set them (aws s3api, Terraform, rclone's
--s3-acl) failed. Sources: the AWS S3 User Guide, "Controlling ownership
of objects and disabling ACLs" (a bucket with ACLs disabled accepts only
bucket-owner-full-control or an ACL granting the owner FULL_CONTROL, and
answers AccessControlListNotSupported otherwise) and the API reference of
GetBucketTagging (NoSuchTagSet when a bucket has no tags)."""

import pytest
from botocore.exceptions import ClientError


def code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_acls_are_the_owners_full_control_and_cannot_be_enabled(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"]
        assert [(g["Grantee"]["ID"], g["Grantee"]["Type"], g["Permission"]) for g in acl["Grants"]] == \
            [(acl["Owner"]["ID"], "CanonicalUser", "FULL_CONTROL")]
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    # What changes nothing is accepted ...
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": owner,
        "Grants": [{"Grantee": {"ID": owner["ID"], "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]})
    # ... anything else is refused, not ignored.
    assert code(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) == "AccessControlListNotSupported"
    assert code(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")) == \
        "AccessControlListNotSupported"
    assert code(lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead="uri=http://acs.amazonaws.com/groups/global/AllUsers")) == \
        "AccessControlListNotSupported"
    assert code(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": owner,
        "Grants": [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                    "Permission": "READ"}]})) == "AccessControlListNotSupported"
    assert code(lambda: s3.get_object_acl(Bucket=bucket, Key="missing")) == "NoSuchKey"


def test_ownership_controls_are_bucket_owner_enforced(s3, bucket):
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    # The modes with ACLs, and deleting the controls (which enables ACLs in
    # S3), are not there: refused, and the bucket stays as it was.
    assert code(lambda: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})) == "NotImplemented"
    assert code(lambda: s3.delete_bucket_ownership_controls(Bucket=bucket)) == "NotImplemented"
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == rules


def test_bucket_tagging(s3, bucket):
    assert code(lambda: s3.get_bucket_tagging(Bucket=bucket)) == "NoSuchTagSet"
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost center", "Value": "a/b ü"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert code(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": too_many})) == "InvalidTag"
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.delete_bucket_tagging(Bucket=bucket)
    assert code(lambda: s3.get_bucket_tagging(Bucket=bucket)) == "NoSuchTagSet"
    assert code(lambda: s3.get_bucket_tagging(Bucket=bucket + "-missing")) == "NoSuchBucket"
