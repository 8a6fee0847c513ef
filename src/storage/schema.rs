// @generated shape of `diesel print-schema` for migrations/; keep in step with the SQL.

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        name -> Text,
        role -> Text,
        token_sha256 -> Text,
        created_at -> Timestamptz,
        created_by -> Text,
        last_used_at -> Nullable<Timestamptz>,
        declared -> Bool,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        target -> Text,
        detail -> Jsonb,
    }
}

diesel::table! {
    auth_sessions (token_sha256) {
        token_sha256 -> Text,
        username -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
    }
}

diesel::table! {
    cameras (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        source -> Jsonb,
        token_sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    captures (id) {
        id -> Int8,
        camera_id -> Text,
        storage_key -> Text,
        taken_at -> Timestamptz,
        size_bytes -> Int8,
        width -> Int4,
        height -> Int4,
        sha256 -> Text,
        reason -> Text,
    }
}

diesel::table! {
    parking_sessions (id) {
        id -> Int8,
        slot_id -> Int8,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        source -> Text,
        end_source -> Nullable<Text>,
        entry_capture_id -> Nullable<Int8>,
        exit_capture_id -> Nullable<Int8>,
        started_by -> Nullable<Text>,
        ended_by -> Nullable<Text>,
    }
}

diesel::table! {
    slot_events (id) {
        id -> Int8,
        slot_id -> Int8,
        at -> Timestamptz,
        from_state -> Text,
        to_state -> Text,
        source -> Text,
        confidence -> Nullable<Float4>,
        capture_id -> Nullable<Int8>,
        actor -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    slots (id) {
        id -> Int8,
        camera_id -> Text,
        label -> Text,
        polygon -> Jsonb,
        state -> Text,
        since -> Timestamptz,
        created_at -> Timestamptz,
        source -> Nullable<Text>,
        actor -> Nullable<Text>,
        version -> Int8,
    }
}

diesel::table! {
    users (username) {
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamptz,
        password_changed_at -> Timestamptz,
    }
}

diesel::table! {
    replicas (node) {
        node -> Text,
        advertise_url -> Text,
        started_at -> Timestamptz,
        seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        leaving -> Bool,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Nullable<Text>,
        epoch -> Int8,
        expires_at -> Timestamptz,
        status -> Nullable<Jsonb>,
    }
}

diesel::joinable!(auth_sessions -> users (username));
diesel::joinable!(captures -> cameras (camera_id));
diesel::joinable!(parking_sessions -> slots (slot_id));
diesel::joinable!(slot_events -> slots (slot_id));
diesel::joinable!(slots -> cameras (camera_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    audit_log,
    auth_sessions,
    cameras,
    captures,
    leases,
    parking_sessions,
    replicas,
    slot_events,
    slots,
    users,
);
