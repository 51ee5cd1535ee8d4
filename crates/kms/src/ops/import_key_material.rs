//! ImportKeyMaterial: unwraps key material with the wrapping key of an import token, checks it
//! against the key spec and installs it; the key becomes usable.
//!
//! A key has one material for life: the first import fixes it, and later imports must bring
//! the same material (to restore it after expiry or deletion, or to change its expiry). Several
//! imported materials per symmetric key (`ImportType=NEW_KEY_MATERIAL` on a key that already has
//! material, followed by RotateKeyOnDemand) are not supported yet.

use serde::{Deserialize, Serialize};
use trent_crypto::{AsymmetricSpec, SecretBytes, WrappingAlgorithm};
use trent_store::{ImportParameters, KeyMaterial, KeyRecord};
use trent_wire::{ApiError, Validator};

use super::get_parameters_for_import::{TOKEN_ID_LEN, TOKEN_LEN, TOKEN_VERSION};
use crate::import::{
    KEY_MATERIAL_DOES_NOT_EXPIRE, KEY_MATERIAL_EXPIRES, MAX_VALID_TO_MS, MaterialKind,
    check_external, material_id,
};
use crate::model::{self, KeyState};
use crate::{Aliases, Caller, Kms, KmsError, LoadedKey};

const NEW_KEY_MATERIAL: &str = "NEW_KEY_MATERIAL";
const EXISTING_KEY_MATERIAL: &str = "EXISTING_KEY_MATERIAL";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    key_id: Option<String>,
    #[serde(default, with = "model::secret_blob")]
    import_token: Option<SecretBytes>,
    #[serde(default, with = "trent_wire::blob::option")]
    encrypted_key_material: Option<Vec<u8>>,
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_description: Option<String>,
    key_material_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    key_id: String,
    key_material_id: String,
}

/// Whether and when the material expires, validated.
struct Expiry {
    model: &'static str,
    valid_to_ms: Option<i64>,
}

fn validate_expiry(
    now: i64,
    model: Option<&str>,
    valid_to: Option<f64>,
) -> Result<Expiry, KmsError> {
    // KEY_MATERIAL_EXPIRES is the documented default.
    match (model.unwrap_or(KEY_MATERIAL_EXPIRES), valid_to) {
        (KEY_MATERIAL_DOES_NOT_EXPIRE, None) => Ok(Expiry {
            model: KEY_MATERIAL_DOES_NOT_EXPIRE,
            valid_to_ms: None,
        }),
        (KEY_MATERIAL_DOES_NOT_EXPIRE, Some(_)) => Err(ApiError::validation(
            "ValidTo must not be specified when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
        )
        .into()),
        (_, None) => Err(ApiError::validation(
            "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.",
        )
        .into()),
        (_, Some(secs)) => {
            // Saturating: absurd values land far outside the window below.
            let ms = (secs * 1000.0) as i64;
            if !secs.is_finite() || ms <= now {
                return Err(ApiError::validation("ValidTo must be in the future.").into());
            }
            if ms > now.saturating_add(MAX_VALID_TO_MS) {
                return Err(ApiError::validation(
                    "ValidTo must be at most 365 days after the time of the request.",
                )
                .into());
            }
            Ok(Expiry {
                model: KEY_MATERIAL_EXPIRES,
                valid_to_ms: Some(ms),
            })
        }
    }
}

/// The import parameters an import token names, if it is one Trent issued for this key and
/// it has not expired.
async fn parameters_for(
    kms: &Kms,
    key: &LoadedKey,
    token: &[u8],
) -> Result<ImportParameters, KmsError> {
    let invalid = || {
        KmsError::InvalidImportToken(format!(
            "The import token is invalid or is associated with a key other than {}.",
            key.arn
        ))
    };
    if token.len() != TOKEN_LEN || token.first() != Some(&TOKEN_VERSION) {
        return Err(invalid());
    }
    let (token_id, secret) = token
        .get(1..)
        .ok_or_else(invalid)?
        .split_at_checked(TOKEN_ID_LEN)
        .ok_or_else(invalid)?;
    let params = kms
        .store()
        .get_import_parameters(&key.record.scope, &trent_crypto::hex(token_id))
        .await?
        .ok_or_else(invalid)?;
    if !trent_crypto::constant_time_eq(&trent_crypto::sha256(secret), &params.token_check)
        || params.key_id != key.record.key_id
    {
        return Err(invalid());
    }
    if kms.now_ms() > params.valid_to_ms {
        return Err(KmsError::ExpiredImportToken(
            "The import token has expired. Call GetParametersForImport for a new wrapping key \
             and import token."
                .to_string(),
        ));
    }
    Ok(params)
}

pub async fn handle(kms: &Kms, caller: &Caller, req: Request) -> Result<Response, KmsError> {
    let mut v = Validator::new();
    super::key_id_member(&mut v, "keyId", &req.key_id);
    v.required("importToken", &req.import_token);
    v.secret_length(
        "importToken",
        req.import_token.as_ref().map(SecretBytes::len),
        1,
        6144,
    );
    v.required("encryptedKeyMaterial", &req.encrypted_key_material);
    v.secret_length(
        "encryptedKeyMaterial",
        req.encrypted_key_material.as_ref().map(Vec::len),
        1,
        6144,
    );
    v.one_of(
        "expirationModel",
        req.expiration_model.as_deref(),
        &[KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE],
    );
    v.one_of(
        "importType",
        req.import_type.as_deref(),
        &[NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL],
    );
    v.length(
        "keyMaterialDescription",
        req.key_material_description.as_deref(),
        0,
        256,
    );
    v.length("keyMaterialId", req.key_material_id.as_deref(), 64, 64);
    v.finish()?;
    let expiry = validate_expiry(kms.now_ms(), req.expiration_model.as_deref(), req.valid_to)?;
    if req.import_type.as_deref() == Some(NEW_KEY_MATERIAL) && req.key_material_id.is_some() {
        return Err(ApiError::validation(
            "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.",
        )
        .into());
    }

    let mut access = crate::authz::Access::new("ImportKeyMaterial");
    if let Some(m) = req.expiration_model.as_deref() {
        access = access.with("kms:ExpirationModel", m);
    }
    if let Some(t) = req.valid_to {
        access = access.with(
            "kms:ValidTo",
            trent_policy::Timestamp::from_unix_nanos((t * 1e9) as i128),
        );
    }
    let key = kms
        .resolve(
            caller,
            req.key_id.as_deref().unwrap_or_default(),
            Aliases::Refused,
            &access,
        )
        .await?;
    check_external(&key)?;
    let kind = MaterialKind::of(&key.record.key_spec).ok_or(KmsError::Internal(
        "EXTERNAL key of a spec that takes no material",
    ))?;
    if kind != MaterialKind::Symmetric
        && (req.import_type.is_some()
            || req.key_material_id.is_some()
            || req.key_material_description.is_some())
    {
        return Err(ApiError::validation(
            "ImportType, KeyMaterialId and KeyMaterialDescription are only valid for symmetric \
             encryption keys.",
        )
        .into());
    }
    check_importable_state(&key.record, &key.arn)?;
    let params = parameters_for(
        kms,
        &key,
        req.import_token
            .as_ref()
            .map(SecretBytes::expose_secret)
            .unwrap_or_default(),
    )
    .await?;

    let algorithm = WrappingAlgorithm::from_kms_name(&params.wrapping_algorithm)
        .ok_or(KmsError::Internal("unknown wrapping algorithm in store"))?;
    let wrapping_spec = AsymmetricSpec::from_kms_name(&params.wrapping_key_spec)
        .ok_or(KmsError::Internal("unknown wrapping key spec in store"))?;
    let material = trent_crypto::import::unwrap_key_material(
        wrapping_spec,
        &params.private_key,
        algorithm,
        req.encrypted_key_material.as_deref().unwrap_or_default(),
    )
    .map_err(|_| {
        KmsError::InvalidCiphertext(
            "The encrypted key material could not be decrypted with the wrapping key of this \
             import token and its wrapping algorithm.",
        )
    })?;
    kind.check(&key.arn, &material)?;
    let id = material_id(&key.record.scope, &key.record.key_id, &material);
    if let Some(requested) = &req.key_material_id
        && *requested != id
    {
        return Err(not_this_material(&key.arn));
    }

    let material = KeyMaterial {
        material_id: id.clone(),
        created_ms: kms.now_ms(),
        rotation_type: None,
        secret: material,
    };
    let import_type = req.import_type.as_deref();
    kms.install_imported_material(&key, &material, |r| {
        check_importable_state(r, &key.arn)?;
        let had_material = !r.current_material_id.is_empty();
        match (import_type, had_material) {
            // The first material. EXISTING_KEY_MATERIAL names material the key never had.
            (None | Some(NEW_KEY_MATERIAL), false) => {}
            (Some(_), false) => return Err(not_this_material(&key.arn)),
            (Some(NEW_KEY_MATERIAL), true) => {
                return Err(KmsError::UnsupportedOperation(
                    "Importing new key material into a key that already has key material \
                     (ImportType NEW_KEY_MATERIAL) is not supported by this server yet; \
                     re-import the key's material with ImportType EXISTING_KEY_MATERIAL."
                        .to_string(),
                ));
            }
            (_, true) if r.current_material_id != id => {
                return Err(not_this_material(&key.arn));
            }
            (_, true) => {}
        }
        r.current_material_id.clone_from(&id);
        // A disabled key stays disabled; a key waiting for material becomes usable.
        if r.state != KeyState::Disabled.as_str() {
            r.state = KeyState::Enabled.as_str().to_string();
        }
        r.expiration_model = Some(expiry.model.to_string());
        r.valid_to_ms = expiry.valid_to_ms;
        Ok(())
    })
    .await?;
    Ok(Response {
        key_id: key.arn.clone(),
        key_material_id: id,
    })
}

/// Material is imported into keys waiting for it, and re-imported into usable keys.
fn check_importable_state(record: &KeyRecord, arn: &str) -> Result<(), KmsError> {
    match KeyState::parse(&record.state)? {
        KeyState::PendingImport | KeyState::Enabled | KeyState::Disabled => Ok(()),
        other => Err(other.invalid_state_error(arn)),
    }
}

fn not_this_material(arn: &str) -> KmsError {
    KmsError::IncorrectKeyMaterial(format!(
        "The key material in the request is not the key material previously imported into \
         {arn}; a key's imported key material cannot be changed."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rules() {
        let now = 1_700_000_000_000;
        let day = 86_400.0;
        let secs = now as f64 / 1000.0;
        assert!(validate_expiry(now, Some(KEY_MATERIAL_DOES_NOT_EXPIRE), None).is_ok());
        assert!(
            validate_expiry(now, Some(KEY_MATERIAL_DOES_NOT_EXPIRE), Some(secs + day)).is_err()
        );
        assert!(validate_expiry(now, None, None).is_err());
        assert!(validate_expiry(now, Some(KEY_MATERIAL_EXPIRES), None).is_err());
        let ok = validate_expiry(now, None, Some(secs + day));
        assert!(
            matches!(ok, Ok(Expiry { model: KEY_MATERIAL_EXPIRES, valid_to_ms: Some(ms) }) if ms == now + 86_400_000)
        );
        assert!(validate_expiry(now, None, Some(secs + 365.0 * day)).is_ok());
        assert!(validate_expiry(now, None, Some(secs + 365.0 * day + 1.0)).is_err());
        assert!(validate_expiry(now, None, Some(secs)).is_err());
        assert!(validate_expiry(now, None, Some(secs - day)).is_err());
        assert!(validate_expiry(now, None, Some(f64::MAX)).is_err());
    }
}
