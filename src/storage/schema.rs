// @generated shape of `diesel print-schema` for migrations/; keep in step with the SQL.

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
    }
}

diesel::joinable!(captures -> cameras (camera_id));
diesel::joinable!(parking_sessions -> slots (slot_id));
diesel::joinable!(slot_events -> slots (slot_id));
diesel::joinable!(slots -> cameras (camera_id));

diesel::allow_tables_to_appear_in_same_query!(cameras, captures, parking_sessions, slot_events, slots,);
