"""Encrypts and decrypts ESDK messages with the official Python aws-encryption-sdk for Trent's
interoperability tests.

Usage: python esdk_interop.py JOBS.json. The JSON holds `aes_keys` (bits -> key file),
`rsa_key` (a DER PKCS#8 file) and `jobs`, each {op: encrypt|decrypt, keyring, suite (ID or
null), frame (int), input, output, ec}. Prints one JSON result per job: {"ok": true} or
{"error": "..."}.
"""

import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization

PROVIDER = "trent-interop"
RSA = {
    "rsa-pkcs1": WrappingAlgorithm.RSA_PKCS1,
    "rsa-oaep-sha1": WrappingAlgorithm.RSA_OAEP_SHA1_MGF1,
    "rsa-oaep-sha256": WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
    "rsa-oaep-sha384": WrappingAlgorithm.RSA_OAEP_SHA384_MGF1,
    "rsa-oaep-sha512": WrappingAlgorithm.RSA_OAEP_SHA512_MGF1,
}
AES = {
    "128": WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    "192": WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    "256": WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    spec = json.loads(read(sys.argv[1]))
    der = read(spec["rsa_key"])
    pem = serialization.load_der_private_key(der, password=None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    def key_provider(name):
        if name.startswith("aes-"):
            bits = name[4:]
            wrapping = WrappingKey(
                AES[bits], read(spec["aes_keys"][bits]), EncryptionKeyType.SYMMETRIC
            )
            return RawMasterKey(provider_id=PROVIDER, key_id=name.encode(), wrapping_key=wrapping)
        wrapping = WrappingKey(RSA[name], pem, EncryptionKeyType.PRIVATE)
        return RawMasterKey(provider_id=PROVIDER, key_id=b"rsa", wrapping_key=wrapping)

    for job in spec["jobs"]:
        try:
            provider = key_provider(job["keyring"])
            suite = Algorithm.get_by_id(job["suite"]) if job.get("suite") else None
            committing = suite is None or suite.is_committing()
            policy = (
                CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
                if committing
                else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
            )
            if job["op"] == "decrypt":
                policy = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
            client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
            data = read(job["input"])
            if job["op"] == "encrypt":
                kwargs = {"frame_length": job["frame"], "encryption_context": job["ec"]}
                if suite is not None:
                    kwargs["algorithm"] = suite
                out, _ = client.encrypt(source=data, key_provider=provider, **kwargs)
            else:
                out, header = client.decrypt(source=data, key_provider=provider)
                for k, v in job["ec"].items():
                    if header.encryption_context.get(k) != v:
                        raise ValueError("encryption context pair %r differs" % k)
            with open(job["output"], "wb") as f:
                f.write(out)
            print(json.dumps({"ok": True}))
        except Exception as e:  # noqa: BLE001 - every failure is reported per job
            print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))


main()
