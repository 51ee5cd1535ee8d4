//! The message header, format v1 and v2.

use crate::context::{self, EncryptionContext};
use crate::keyring::EncryptedDataKey;
use crate::reader::Reader;
use crate::{AlgorithmSuite, Error};

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `01`: one block (read-only: encryptors always frame).
    NonFramed,
    /// `02`: a sequence of frames ending with a final frame.
    Framed,
}

/// A parsed message header.
#[derive(Debug, Clone)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    pub suite: AlgorithmSuite,
    /// 16 bytes (v1) or 32 bytes (v2).
    pub message_id: Vec<u8>,
    /// The encryption context stored in the header (without required-context keys).
    pub encryption_context: EncryptionContext,
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    pub content_type: ContentType,
    /// 0 for non-framed bodies.
    pub frame_length: u32,
    /// The header authentication IV (the field present in v1; zeros in v2).
    pub(crate) auth_iv: [u8; 12],
    /// The commitment key (v2 suite data).
    pub(crate) commitment: Option<[u8; 32]>,
    pub(crate) auth_tag: [u8; 16],
    /// Length of the header body: every byte before the authentication fields.
    pub(crate) body_len: usize,
    /// Length of the whole header including its authentication fields.
    pub(crate) len: usize,
}

/// The fields of a header body a writer chooses (the encryptor's view).
pub(crate) struct HeaderFields<'a> {
    pub(crate) suite: AlgorithmSuite,
    pub(crate) message_id: &'a [u8],
    /// The stored encryption context (without required-context keys).
    pub(crate) encryption_context: &'a EncryptionContext,
    pub(crate) encrypted_data_keys: &'a [EncryptedDataKey],
    pub(crate) frame_length: u32,
    pub(crate) commitment: Option<&'a [u8; 32]>,
}

fn push_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<(), Error> {
    let len = u16::try_from(bytes.len()).map_err(|_| Error::InvalidRequest(what))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

impl HeaderFields<'_> {
    /// The header body: every byte before the authentication fields, always framed.
    pub(crate) fn serialize_body(&self) -> Result<Vec<u8>, Error> {
        let version = self.suite.message_format_version();
        let mut out = Vec::with_capacity(256);
        out.push(version);
        if version == 1 {
            out.push(0x80);
        }
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(self.message_id);
        let ec = context::serialize(self.encryption_context)?;
        push_u16_prefixed(
            &mut out,
            &ec,
            "encryption context is larger than 65,535 bytes",
        )?;
        let count = u16::try_from(self.encrypted_data_keys.len())
            .map_err(|_| Error::InvalidRequest("more than 65,535 encrypted data keys"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for edk in self.encrypted_data_keys {
            let too_long = "encrypted data key field longer than 65,535 bytes";
            push_u16_prefixed(&mut out, edk.provider_id.as_bytes(), too_long)?;
            push_u16_prefixed(&mut out, &edk.provider_info, too_long)?;
            push_u16_prefixed(&mut out, &edk.ciphertext, too_long)?;
        }
        out.push(2); // framed
        if version == 1 {
            out.extend_from_slice(&[0, 0, 0, 0, 12]);
        }
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        if let Some(commitment) = self.commitment {
            out.extend_from_slice(commitment);
        }
        Ok(out)
    }
}

impl Header {
    /// Parses the header at the start of `message`; the rest is the body and footer.
    pub fn parse(message: &[u8]) -> Result<Header, Error> {
        let mut r = Reader::new(message);
        let version = r.u8()?;
        match version {
            1 => {
                if r.u8()? != 0x80 {
                    return Err(Error::Malformed("message type is not 0x80"));
                }
            }
            2 => {}
            v => return Err(Error::UnsupportedVersion(v)),
        }
        let suite_id = r.u16()?;
        let suite = AlgorithmSuite::from_id(suite_id).ok_or(Error::UnsupportedSuite(suite_id))?;
        if suite.message_format_version() != version {
            return Err(Error::UnsupportedSuite(suite_id));
        }
        let message_id = r.take(if version == 1 { 16 } else { 32 })?.to_vec();
        let encryption_context = context::parse(r.u16_prefixed()?)?;
        let edk_count = r.u16()?;
        if edk_count == 0 {
            return Err(Error::Malformed("no encrypted data keys"));
        }
        let mut encrypted_data_keys = Vec::with_capacity(usize::from(edk_count));
        for _ in 0..edk_count {
            let provider_id = String::from_utf8(r.u16_prefixed()?.to_vec())
                .map_err(|_| Error::Malformed("provider ID is not UTF-8"))?;
            let provider_info = r.u16_prefixed()?.to_vec();
            let ciphertext = r.u16_prefixed()?.to_vec();
            encrypted_data_keys.push(EncryptedDataKey {
                provider_id,
                provider_info,
                ciphertext,
            });
        }
        let content_type = match r.u8()? {
            1 => ContentType::NonFramed,
            2 => ContentType::Framed,
            _ => return Err(Error::Malformed("unknown content type")),
        };
        if version == 1 {
            if r.u32()? != 0 {
                return Err(Error::Malformed("reserved field is not zero"));
            }
            if r.u8()? != 12 {
                return Err(Error::Malformed("IV length is not 12"));
            }
        }
        let frame_length = r.u32()?;
        match content_type {
            ContentType::NonFramed if frame_length != 0 => {
                return Err(Error::Malformed("non-framed message with a frame length"));
            }
            ContentType::Framed if frame_length == 0 => {
                return Err(Error::Malformed("framed message with frame length 0"));
            }
            _ => {}
        }
        let commitment = if version == 2 {
            Some(r.array::<32>()?)
        } else {
            None
        };
        let body_len = r.position();
        let auth_iv = if version == 1 {
            r.array::<12>()?
        } else {
            [0u8; 12]
        };
        let auth_tag = r.array::<16>()?;
        Ok(Header {
            version,
            suite,
            message_id,
            encryption_context,
            encrypted_data_keys,
            content_type,
            frame_length,
            auth_iv,
            commitment,
            auth_tag,
            body_len,
            len: r.position(),
        })
    }
}
