// Shared by SQLite and PostgreSQL: only types both backends map the same way.

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    departments (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        parent_id -> Nullable<BigInt>,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        active -> Bool,
        credit_code -> Nullable<Text>,
    }
}

diesel::table! {
    service_items (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        department_id -> BigInt,
        created_at -> Timestamp,
        active -> Bool,
        task_code -> Nullable<Text>,
    }
}

diesel::table! {
    windows (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        hall -> Text,
        created_at -> Timestamp,
        active -> Bool,
    }
}

diesel::table! {
    staff (id) {
        id -> BigInt,
        staff_no -> Text,
        name -> Text,
        department_id -> BigInt,
        created_at -> Timestamp,
        active -> Bool,
    }
}

diesel::table! {
    assignments (id) {
        id -> BigInt,
        window_id -> BigInt,
        staff_id -> BigInt,
        effective_from -> Timestamp,
        effective_to -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    assignment_items (assignment_id, service_item_id) {
        assignment_id -> BigInt,
        service_item_id -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        department_id -> Nullable<BigInt>,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        active -> Bool,
    }
}

diesel::table! {
    auth_tokens (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        name -> Text,
        key_hash -> Text,
        key_prefix -> Text,
        role -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    transactions (id) {
        id -> BigInt,
        transaction_no -> Text,
        service_item_id -> BigInt,
        department_id -> BigInt,
        window_id -> Nullable<BigInt>,
        staff_id -> Nullable<BigInt>,
        channel -> Text,
        applicant_name -> Nullable<Text>,
        applicant_phone -> Nullable<Text>,
        applicant_email -> Nullable<Text>,
        accepted_at -> Nullable<Timestamp>,
        completed_at -> Timestamp,
        created_at -> Timestamp,
        applicant_phone_hash -> Nullable<Text>,
    }
}

diesel::table! {
    reviews (id) {
        id -> BigInt,
        transaction_id -> BigInt,
        stars -> Integer,
        channel -> Text,
        tags -> Text,
        comment -> Nullable<Text>,
        anonymous -> Bool,
        is_public -> Bool,
        invalidated -> Bool,
        department_id -> BigInt,
        service_item_id -> BigInt,
        window_id -> Nullable<BigInt>,
        staff_id -> Nullable<BigInt>,
        rated_at -> Timestamp,
        created_at -> Timestamp,
        tag_set_version -> Nullable<Integer>,
        moderation -> Integer,
        address_hash -> Nullable<Text>,
        device_hash -> Nullable<Text>,
        staff_session -> Bool,
    }
}

diesel::table! {
    integrity_flags (id) {
        id -> BigInt,
        kind -> Text,
        subject -> Text,
        period -> Text,
        department_id -> Nullable<BigInt>,
        window_id -> Nullable<BigInt>,
        details -> Text,
        last_review_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        status -> Text,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    integrity_flag_reviews (flag_id, review_id) {
        flag_id -> BigInt,
        review_id -> BigInt,
    }
}

diesel::table! {
    complaints (id) {
        id -> BigInt,
        source -> Text,
        external_no -> Text,
        title -> Nullable<Text>,
        content -> Text,
        contact_name -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        received_at -> Timestamp,
        department_id -> Nullable<BigInt>,
        service_item_id -> Nullable<BigInt>,
        transaction_id -> Nullable<BigInt>,
        routed_by -> Text,
        route_suggestions -> Nullable<Text>,
        created_at -> Timestamp,
        contact_phone_hash -> Nullable<Text>,
    }
}

diesel::table! {
    cases (id) {
        id -> BigInt,
        source -> Text,
        review_id -> Nullable<BigInt>,
        complaint_id -> Nullable<BigInt>,
        department_id -> Nullable<BigInt>,
        window_id -> Nullable<BigInt>,
        staff_id -> Nullable<BigInt>,
        state -> Text,
        opened_at -> Timestamp,
        feedback_due -> Nullable<Timestamp>,
        reply_due -> Nullable<Timestamp>,
        supervision_due -> Nullable<Timestamp>,
        stage_due -> Nullable<Timestamp>,
        extension -> Text,
        cycle_started_at -> Timestamp,
        reply_text -> Nullable<Text>,
        replied_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        alerted_level -> Integer,
        committed_reply_due -> Nullable<Timestamp>,
        merged_into -> Nullable<BigInt>,
        personal_data_erased_at -> Nullable<Timestamp>,
        reply_warnings -> Nullable<Text>,
    }
}

diesel::table! {
    case_co_departments (case_id, department_id) {
        case_id -> BigInt,
        department_id -> BigInt,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    case_returns (id) {
        id -> BigInt,
        case_id -> BigInt,
        department_id -> BigInt,
        reason -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        case_id -> Nullable<BigInt>,
        actor -> Text,
        action -> Text,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        note -> Nullable<Text>,
        detail -> Nullable<Text>,
        at -> Timestamp,
        prev_hash -> Text,
        hash -> Text,
    }
}


diesel::table! {
    review_follow_ups (id) {
        id -> BigInt,
        review_id -> BigInt,
        kind -> Text,
        stars -> Nullable<Integer>,
        satisfaction -> Nullable<Text>,
        comment -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    calendar_days (day) {
        day -> Date,
        kind -> Text,
    }
}

diesel::table! {
    calendar_years (year) {
        year -> Integer,
        updated_at -> Timestamp,
        updated_by -> Text,
        status -> Text,
    }
}

diesel::table! {
    sla_policies (source) {
        source -> Text,
        feedback_days -> Integer,
        reply_days -> Integer,
        extended_reply_days -> Integer,
        supervision_days -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        case_id -> BigInt,
        level -> Text,
        stage -> Text,
        due_at -> Timestamp,
        raised_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        recipients -> Text,
        subject -> Text,
        body -> Text,
        case_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        dead_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(alerts -> cases (case_id));


diesel::table! {
    analysis_runs (id) {
        id -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        params -> Text,
        k -> Integer,
        documents -> Integer,
        silhouette -> Double,
        seconds -> Double,
    }
}

diesel::table! {
    analysis_clusters (id) {
        id -> BigInt,
        run_id -> BigInt,
        cluster_no -> Integer,
        label -> Text,
        size -> Integer,
        top_terms -> Text,
        samples -> Text,
    }
}

diesel::table! {
    analysis_members (run_id, source, record_id) {
        run_id -> BigInt,
        cluster_no -> Integer,
        source -> Text,
        record_id -> BigInt,
    }
}

diesel::table! {
    tag_sets (id) {
        id -> BigInt,
        band -> Text,
        version -> Integer,
        tags -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        events -> Text,
        description -> Nullable<Text>,
        secret -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event -> Text,
        delivery_id -> Text,
        case_id -> Nullable<BigInt>,
        payload -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        dead_at -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    sms_outbox (id) {
        id -> BigInt,
        kind -> Text,
        dedup_key -> Text,
        phone -> Text,
        params -> Text,
        case_id -> Nullable<BigInt>,
        transaction_no -> Nullable<Text>,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        dead_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    exchange_changes (seq) {
        seq -> BigInt,
        review_id -> BigInt,
        at -> Timestamp,
    }
}

diesel::table! {
    sign_in_failures (id) {
        id -> BigInt,
        username -> Text,
        address -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    rate_counters (bucket, window_start) {
        bucket -> Text,
        window_start -> BigInt,
        hits -> Integer,
    }
}

diesel::table! {
    personal_data_views (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        username -> Text,
        case_id -> BigInt,
        fields -> Text,
    }
}

diesel::table! {
    monthly_report_snapshots (id) {
        id -> BigInt,
        month -> Text,
        version -> Integer,
        generated_at -> Timestamp,
        generated_by -> Text,
        reason -> Nullable<Text>,
        min_ratings -> BigInt,
        figures -> Text,
        changes -> Nullable<Text>,
        html -> Text,
        csv -> Text,
        xlsx -> Binary,
        hash -> Text,
    }
}

diesel::table! {
    topics (id) {
        id -> BigInt,
        label -> Text,
        top_terms -> Text,
        centroid -> Text,
        first_period -> Date,
        last_period -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    topic_periods (topic_id, period_start) {
        topic_id -> BigInt,
        period_start -> Date,
        documents -> Integer,
        similarity -> Nullable<Double>,
    }
}

diesel::table! {
    topic_members (source, record_id) {
        source -> Text,
        record_id -> BigInt,
        topic_id -> BigInt,
        period_start -> Date,
        occurred_at -> Timestamp,
        department_id -> Nullable<BigInt>,
        bad -> Bool,
    }
}

diesel::table! {
    topic_alerts (id) {
        id -> BigInt,
        topic_id -> BigInt,
        kind -> Text,
        window_key -> Date,
        window_start -> Timestamp,
        window_end -> Timestamp,
        count -> Integer,
        baseline_mean -> Double,
        baseline_sd -> Double,
        threshold -> Double,
        label -> Text,
        top_terms -> Text,
        samples -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(topic_periods -> topics (topic_id));
diesel::joinable!(topic_members -> topics (topic_id));
diesel::joinable!(topic_alerts -> topics (topic_id));

// The search index (`storage::search`). Its `terms` and `facets` are TEXT on SQLite (under FTS5)
// and TEXT[] on PostgreSQL (under GIN): written and matched by raw SQL there, so not declared here.
diesel::table! {
    search_documents (id) {
        id -> BigInt,
        source -> Text,
        record_id -> BigInt,
        case_id -> Nullable<BigInt>,
        transaction_no -> Nullable<Text>,
        department_id -> Nullable<BigInt>,
        stars -> Nullable<Integer>,
        occurred_at -> Timestamp,
        text -> Text,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(analysis_clusters -> analysis_runs (run_id));

diesel::joinable!(service_items -> departments (department_id));
diesel::joinable!(staff -> departments (department_id));
diesel::joinable!(transactions -> service_items (service_item_id));
diesel::joinable!(reviews -> transactions (transaction_id));
diesel::joinable!(cases -> departments (department_id));
diesel::joinable!(assignment_items -> assignments (assignment_id));
diesel::joinable!(auth_tokens -> users (user_id));
diesel::joinable!(transactions -> windows (window_id));

diesel::allow_tables_to_appear_in_same_query!(
    integrity_flags,
    integrity_flag_reviews,
    tag_sets,
    settings,
    departments,
    service_items,
    windows,
    staff,
    assignments,
    assignment_items,
    users,
    auth_tokens,
    api_keys,
    transactions,
    reviews,
    complaints,
    cases,
    audit_events,
    review_follow_ups,
    calendar_days,
    calendar_years,
    sla_policies,
    alerts,
    outbox,
    analysis_runs,
    analysis_clusters,
    analysis_members,
    webhooks,
    webhook_deliveries,
    case_co_departments,
    case_returns,
    sms_outbox,
    exchange_changes,
    sign_in_failures,
    rate_counters,
    personal_data_views,
    search_documents,
    topics,
    topic_periods,
    topic_members,
    topic_alerts,
    monthly_report_snapshots,
);
