use aws_sdk_dynamodb::types::AttributeValue;
use harness::spawn_app;
use shared::domain::{
    ports::{AccountStore, SealError, TokenSealer},
    secrets::SealedTokens,
};

use crate::helpers::account;

#[tokio::test]
async fn a_ciphertext_copied_onto_another_account_does_not_open() {
    let app = spawn_app().await;
    app.connect("alice", "tt-victim").await;
    app.connect("mallory", "tt-attacker").await;
    let attacker = account(&app, "tt-attacker").await;
    let victim = account(&app, "tt-victim").await;

    // Someone with write access to the table swaps the victim's ciphertext
    // for the attacker's.
    app.clients
        .dynamodb
        .update_item()
        .table_name(&app.provisioned.table)
        .key("pk", AttributeValue::S("ACCOUNT#tt-victim".into()))
        .key("sk", AttributeValue::S("ACCOUNT".into()))
        .update_expression("SET sealed_tokens = :b")
        .expression_attribute_values(
            ":b",
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                attacker.sealed_tokens.clone().unwrap().as_bytes(),
            )),
        )
        .send()
        .await
        .unwrap();
    let swapped = app.store().get_account(&victim.id).await.unwrap().unwrap();
    let err = app
        .sealer()
        .open(&swapped.id, swapped.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, SealError::Rejected), "{err:?}");
    // The ciphertext still opens for its own account.
    assert!(
        app.sealer()
            .open(&attacker.id, attacker.sealed_tokens.as_ref().unwrap())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_tampered_ciphertext_does_not_open() {
    let app = spawn_app().await;
    app.connect("alice", "tt-user-1").await;
    let a = account(&app, "tt-user-1").await;
    let original = a.sealed_tokens.clone().unwrap();
    let len = original.as_bytes().len();
    for position in [0, len / 2, len - 1] {
        let mut bytes = original.as_bytes().to_vec();
        bytes[position] ^= 0x01;
        let err = app
            .sealer()
            .open(&a.id, &SealedTokens::from_bytes(bytes))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SealError::Rejected),
            "byte {position}: {err:?}"
        );
    }
    let truncated = SealedTokens::from_bytes(original.as_bytes()[..len - 4].to_vec());
    assert!(matches!(
        app.sealer().open(&a.id, &truncated).await,
        Err(SealError::Rejected)
    ));
}
