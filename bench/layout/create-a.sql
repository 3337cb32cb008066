WITH v AS (SELECT gen_random_uuid() AS id),
c AS (INSERT INTO customers (id, external_ref, dek_version, consent_marketing, consent_third_party, full_name, email, phone, address, national_id, date_of_birth, card_number, card_expiry, cardholder_name, bank_account, revision)
  SELECT v.id, 'ref-' || v.id, 1, false, false, decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), decode(repeat('a5', 90), 'hex'), 1 FROM v),
d AS (INSERT INTO customer_deks (customer_id, version, kek_version, wrapped_key) SELECT v.id, 1, 1, decode(repeat('5a', 72), 'hex') FROM v),
b AS (INSERT INTO customer_blind_indexes (customer_id, field, key_version, digest, norm_version) SELECT v.id, f, 1, substring(sha256(convert_to(v.id::text || f, 'UTF8')) for 16), 2 FROM v, unnest('{email,phone,nationalId}'::text[]) AS f),
h AS (INSERT INTO customer_consent_history (customer_id, marketing, third_party_sharing, actor_id, actor_kind, actor_roles) SELECT v.id, false, false, '2f0c8f5e-5b4c-4e55-9d1e-0a0b0c0d0e0f', 'service', '{ingest}' FROM v),
a AS (INSERT INTO audit_pending (event_id, at, request_id, actor_id, actor_name, actor_kind, actor_roles, action, resource_type, resource_id, purpose, reason, fields_revealed, fields_masked, fields_written, outcome, status, client_ip, details)
  SELECT gen_random_uuid(), now(), 'req-' || v.id, '2f0c8f5e-5b4c-4e55-9d1e-0a0b0c0d0e0f', 'ingest-svc', 'service', '{ingest}', 'customer.create', 'customer', v.id::text, NULL, NULL, '{}', '{}',
    '{fullName,email,phone,address,nationalId,dateOfBirth,cardNumber,cardExpiry,cardholderName,bankAccount}', 'allowed', 201, '10.0.0.7', '{"marketing": false, "thirdPartySharing": false}'::jsonb FROM v)
SELECT 1;
