//! `serve --demo`: a believable district, seeded once through the same use cases the API
//! calls, so that a new user sees every list populated.

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::admin::accounts::{self, NewUserSpec};
use crate::interfaces::app::AppState;
use crate::clock;
use crate::domain::intake_rules::{Channel, ComplaintSource, ReviewContent};
use crate::domain::grade::Stars;
use crate::domain::rating_policy::RatingPolicy;
use crate::domain::tag_sets::GradeBand;
use crate::error::AppError;
use crate::intake::{self, ComplaintCommand, ReviewCommand, TransactionCommand};
use crate::admin::master_data::{self, AssignmentSpec};
use crate::domain::access::Role;
use crate::storage::queries;

/// Demo accounts (also in the README). Only ever seeded into a demo database.
pub const DEMO_PASSWORD: &str = "demo-lotus-2026";

const DEPARTMENTS: &[(&str, &str, &[(&str, &str)])] = &[
    ("SCJG", "区市场监督管理局", &[("SCJG-001", "企业设立登记"), ("SCJG-002", "食品经营许可"), ("SCJG-003", "个体工商户变更登记")]),
    ("RSJ", "区人力资源和社会保障局", &[("RSJ-001", "社保卡申领"), ("RSJ-002", "灵活就业人员参保登记"), ("RSJ-003", "失业保险金申领")]),
    ("YBJ", "区医疗保障局", &[("YBJ-001", "医保关系转移接续"), ("YBJ-002", "异地就医备案"), ("YBJ-003", "生育津贴申领")]),
    ("GAFJ", "区公安分局", &[("GAFJ-001", "居民身份证换领"), ("GAFJ-002", "户口迁入"), ("GAFJ-003", "居住证办理")]),
    ("ZJJ", "区住房和城乡建设局", &[("ZJJ-001", "商品房预售许可"), ("ZJJ-002", "住房公积金提取"), ("ZJJ-003", "建筑工程施工许可")]),
    ("SWJ", "区税务局", &[("SWJ-001", "发票领用"), ("SWJ-002", "个人所得税汇算"), ("SWJ-003", "税务登记信息变更")]),
    ("MZJ", "区民政局", &[("MZJ-001", "婚姻登记"), ("MZJ-002", "最低生活保障申请"), ("MZJ-003", "高龄津贴申领")]),
    ("BDCDJ", "区不动产登记中心", &[("BDC-001", "不动产转移登记"), ("BDC-002", "抵押登记"), ("BDC-003", "不动产权证书补换")]),
];

const BAD_COMMENTS: &[&str] = &[
    "排队等了两个多小时，窗口只开了一个",
    "材料清单网上和窗口说法不一样，白跑了两趟",
    "工作人员态度生硬，问两句就不耐烦",
    "系统一直显示故障，让我下午再来",
    "要求提供的证明太多，很多在别的部门已经交过",
    "预约了还要重新取号排队，预约没有意义",
    "电话一直打不通，咨询不到具体要求",
    "办理时限承诺五个工作日，实际过了半个月还没办好",
    "窗口人员对政策也不清楚，让我自己去问别的部门",
    "线上提交后被退回，退回理由写得不清楚",
    "自助机不能用，也没人指导老年人操作",
    "午休时间窗口全部关闭，上班族只能请假来办",
    "要求本人到场，行动不便的老人也不给上门办理",
    "收了材料没有给回执，后来说材料丢了",
    "异地备案流程太复杂，网上办理总是失败",
    "跑了三个窗口才盖完章，说好的一窗通办呢",
    "社保卡补办要等一个月，太慢了",
    "大厅停车位太少，外面乱停车被贴罚单",
    "工作人员上班时间玩手机，叫号很慢",
    "网上预约号源太少，每天一放号就没了",
];

const GOOD_COMMENTS: &[&str] = &[
    "办事很快，工作人员耐心讲解",
    "一次就办好了，点赞",
    "帮办代办服务很贴心",
    "材料齐全的话半小时就能办完",
    "线上办理方便，不用跑腿",
];

const COMPLAINTS: &[(&str, &str)] = &[
    ("公积金提取迟迟不到账", "本人于上月提交住房公积金提取申请，审核通过后至今未到账，多次拨打电话无人接听，请相关部门尽快处理。"),
    ("小区旁餐馆无证经营", "我小区楼下新开一家餐馆，未见张贴食品经营许可证，油烟扰民，希望市场监管部门核查。"),
    ("低保申请被无故拖延", "家中老人申请最低生活保障已提交材料两个月，社区称在等街道审批，街道称在等区里，至今没有结果。"),
    ("户口迁入要求材料反复变化", "为孩子办理户口迁入，第一次去说缺房产证明，第二次又说要单位证明，希望一次性告知。"),
    ("医保异地备案线上无法办理", "在外地工作需办理异地就医备案，小程序一直提示系统繁忙，电话也打不通。"),
    ("不动产登记窗口排队时间长", "办理二手房过户，早上七点排队，十一点才叫到号，建议增加窗口。"),
    ("发票领用需多次到场", "新办企业领用发票，被要求法人本人到场三次，是否可以简化流程。"),
    ("失业金申领审核太慢", "失业保险金申请提交三周仍显示审核中，家庭生活困难，请尽快办理。"),
];

/// Seeds the demo district once; a second start finds the marker and does nothing.
pub fn seed(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.conn()?;
    if queries::setting(&mut conn, "demo_seeded")?.is_some() {
        eprintln!("demo: already seeded");
        return Ok(());
    }
    // Never into live data: 3 000 fake 办件 and the demo accounts (with a published password)
    // would mix with the district's own.
    let held = crate::storage::operator_rows(&mut conn)?;
    if held > 0 {
        anyhow::bail!(
            "serve --demo seeds only an empty database, and {} already holds {held} rows of real data \
             (master data, users, keys, webhooks, 办件, complaints or messages). Start the demo on a new file \
             (DATABASE_URL=sqlite://demo.db haochaping serve --demo) or serve this one without --demo.",
            state.config.database_url
        );
    }
    let err = |e: AppError| anyhow::anyhow!("demo seed: {e}");
    let mut rng = StdRng::seed_from_u64(20261122);
    let now = clock::now();
    let start = now - Duration::days(120);
    let actor = "demo";
    eprintln!("demo: seeding master data…");

    let mut items: Vec<(String, usize)> = Vec::new();
    for (index, (code, name, dept_items)) in DEPARTMENTS.iter().enumerate() {
        let email = format!("{}@demo.gov.local", code.to_lowercase());
        master_data::create_department(&mut conn, actor, code, name, None, Some(&email), start).map_err(err)?;
        for (item_code, item_name) in dept_items.iter() {
            master_data::create_service_item(&mut conn, actor, item_code, item_name, code, start).map_err(err)?;
            items.push((item_code.to_string(), index));
        }
        for n in 1..=2 {
            let staff_no = format!("{code}-S{n:02}");
            let person = format!("{}{}", ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"][index], ["敏", "静", "伟", "芳"][n]);
            master_data::create_staff(&mut conn, actor, &staff_no, &person, code, start).map_err(err)?;
        }
    }
    for n in 1..=16 {
        let hall = if n <= 10 { "区政务服务中心一楼" } else { "区政务服务中心二楼" };
        master_data::create_window(&mut conn, actor, &format!("W{n:02}"), &format!("{n}号综合窗口"), hall, start).map_err(err)?;
    }
    // 三对应: each department's two staff sit at two windows and handle its items.
    for (index, (code, _, dept_items)) in DEPARTMENTS.iter().enumerate() {
        let codes: Vec<String> = dept_items.iter().map(|(c, _)| c.to_string()).collect();
        for n in 1..=2 {
            let spec = AssignmentSpec {
                window_code: &format!("W{:02}", index * 2 + n),
                staff_no: &format!("{code}-S{n:02}"),
                service_item_codes: &codes,
                effective_from: start - Duration::days(30),
                effective_to: None,
            };
            master_data::create_assignment(&mut conn, actor, &spec, start).map_err(err)?;
        }
    }
    let users: Vec<(String, Role, Option<&str>)> = [
        ("admin".to_owned(), Role::Admin, None),
        ("supervisor".to_owned(), Role::Supervisor, None),
    ]
    .into_iter()
    .chain(DEPARTMENTS.iter().map(|(code, _, _)| (format!("clerk_{}", code.to_lowercase()), Role::Department, Some(*code))))
    .collect();
    for (username, role, department) in &users {
        // The supervisor has an address so that escalations (督办) have somewhere to go.
        let email = (*role == Role::Supervisor).then(|| format!("{username}@demo.gov.local"));
        let spec = NewUserSpec { username, password: DEMO_PASSWORD, role: *role, department_code: *department, email: email.as_deref() };
        accounts::create_user(&mut conn, &spec, start).map_err(err)?;
    }
    let (_, key) = accounts::create_api_key(&mut conn, "demo-counter-system", start).map_err(err)?;
    // The shipped router knows the message board's categories; map those the district has.
    if let Some(router) = &state.router {
        let known = [("城乡建设", "ZJJ"), ("劳动和社会保障", "RSJ"), ("卫生计生", "YBJ"), ("商贸旅游", "SCJG")];
        let map: std::collections::BTreeMap<String, String> = known
            .iter()
            .filter(|(label, _)| router.model.labels.iter().any(|l| l == label))
            .map(|(l, d)| (l.to_string(), d.to_string()))
            .collect();
        crate::adapters::nlp::routing::set_label_map(&mut conn, &map).map_err(err)?;
    }

    let rules = state.rules(&mut conn).map_err(err)?;
    let total = 3000;
    eprintln!("demo: seeding {total} transactions and their ratings…");
    for n in 0..total {
        if n % 500 == 0 {
            eprintln!("demo: {n}/{total}");
        }
        let (item_code, dept_index) = &items[rng.gen_range(0..items.len())];
        let completed = start + Duration::minutes(rng.gen_range(0..(120 * 24 * 60)));
        let at_counter = rng.gen_bool(0.7);
        let window = at_counter.then(|| format!("W{:02}", dept_index * 2 + rng.gen_range(1..=2)));
        let cmd = TransactionCommand {
            transaction_no: format!("DEMO-{:06}", n + 1),
            service_item_code: item_code.clone(),
            window_code: window,
            staff_no: None,
            channel: if at_counter { Channel::WindowDevice } else { *[Channel::Pc, Channel::Mobile].get(n % 2).unwrap_or(&Channel::Pc) },
            applicant_name: Some(format!("{}先生", ["周", "吴", "郑", "孙", "钱"][n % 5])),
            applicant_phone: Some(format!("139{:08}", rng.gen_range(0..100_000_000))),
            applicant_email: None,
            accepted_at: Some(completed - Duration::minutes(rng.gen_range(5..90))),
            completed_at: completed,
            invite_by_sms: false,
        };
        let tx = intake::record_transaction(&mut conn, &cmd, completed).map_err(err)?;
        // About one transaction in seven goes unrated (未评); the default-rating policy, on in
        // the demo, rates those older than 15 days below.
        if rng.gen_bool(0.14) {
            continue;
        }
        let roll: f64 = rng.gen();
        let stars: i64 = match roll {
            r if r < 0.05 => 1,
            r if r < 0.10 => 2,
            r if r < 0.20 => 3,
            r if r < 0.42 => 4,
            _ => 5,
        };
        let comment = if stars <= 2 {
            Some(BAD_COMMENTS[rng.gen_range(0..BAD_COMMENTS.len())].to_owned())
        } else if rng.gen_bool(0.2) {
            Some(GOOD_COMMENTS[rng.gen_range(0..GOOD_COMMENTS.len())].to_owned())
        } else {
            None
        };
        // Tags from the band's set in force: most bad reviews pick one, some good ones too.
        let offered = &rules.tag_sets.of(GradeBand::of(Stars::parse(stars).map_err(|e| anyhow::anyhow!("{e}"))?)).tags;
        let tags = match offered.len() {
            0 => vec![],
            n if rng.gen_bool(if stars <= 2 { 0.8 } else { 0.3 }) => vec![offered[rng.gen_range(0..n)].clone()],
            _ => vec![],
        };
        let content = ReviewContent::parse(stars, tags, comment).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rated_at = completed + Duration::minutes(rng.gen_range(1..2000));
        if rated_at > now {
            continue;
        }
        let mut review = ReviewCommand {
            transaction_no: tx.transaction.transaction_no.clone(),
            content,
            channel: if at_counter { Channel::WindowDevice } else { Channel::Mobile },
            anonymous: rng.gen_bool(0.3),
            is_public: true,
            rated_at,
            tag_set_version: None,
            moderation: crate::domain::exchange::AuditStatus::NotNeeded,
            origin: Default::default(),
        };
        review.under_rules(&rules).map_err(err)?;
        intake::record_review(&mut conn, &review, actor, rated_at, &rules).map_err(err)?;
    }
    for (n, (title, content)) in COMPLAINTS.iter().enumerate() {
        let received = now - Duration::hours(rng.gen_range(2..24 * 20));
        let cmd = ComplaintCommand {
            source: if n % 4 == 3 { ComplaintSource::StateCouncil } else { ComplaintSource::Hotline12345 },
            external_no: format!("12345-DEMO-{:04}", n + 1),
            title: Some(title.to_string()),
            content: content.to_string(),
            contact_name: Some("市民".into()),
            contact_phone: Some(format!("137{:08}", rng.gen_range(0..100_000_000))),
            received_at: received,
            // Half arrive already assigned by the hotline; the rest wait for dispatch.
            department_code: (n % 2 == 0).then(|| DEPARTMENTS[n % DEPARTMENTS.len()].0.to_owned()),
            service_item_code: None,
            transaction_no: None,
            // Every fifth work order promises its reply within 3 working days.
            commitment: (n % 5 == 0).then_some(intake::Commitment::WorkingDays(3)),
        };
        intake::record_complaint(&mut conn, &cmd, "integration:12345", received, &rules, state.router.as_ref()).map_err(err)?;
    }
    eprintln!("demo: moving cases through the loop…");
    advance_cases(&mut conn, &mut rng, now, &rules)?;
    let report = crate::cases::scan::scan(&mut conn, now, &rules).map_err(err)?;
    eprintln!("demo: {report}");
    crate::admin::rules::set_rating_policy(&mut conn, actor, &RatingPolicy { enabled: true, ..RatingPolicy::default() }, now).map_err(err)?;
    let defaults = crate::intake::default_ratings::give_due(&mut conn, now).map_err(err)?;
    eprintln!("demo: {defaults} default ratings (unrated 15 days after completion)");
    queries::setting_or_insert(&mut conn, "demo_seeded", &Utc::now().to_rfc3339())?;
    eprintln!("demo: done. Log in as admin / supervisor / clerk_scjg … with password {DEMO_PASSWORD}");
    eprintln!("demo: integration API key (shown once): {key}");
    Ok(())
}

/// Walks the seeded cases through the loop at simulated times: old cases mostly closed (a few
/// late, some appealed), recent ones spread over every state, so every list has content.
fn advance_cases(conn: &mut crate::storage::Conn, rng: &mut StdRng, now: chrono::DateTime<Utc>, rules: &crate::domain::rules::Rules) -> anyhow::Result<()> {
    use crate::domain::access::Principal;
    use crate::cases::actions::{apply_action, ActionRequest};
    use crate::db_run;
    use crate::domain::case_flow::Action;
    use crate::cases::follow_ups::{record_follow_up, FollowUp, Satisfaction};
    use crate::storage::schema::{cases, reviews, transactions, users};
    use diesel::prelude::*;

    let clerks: Vec<(i64, String, Option<i64>)> =
        db_run!(conn, |c| users::table.select((users::id, users::username, users::department_id)).load(c))?;
    let supervisor = clerks
        .iter()
        .find(|(_, name, _)| name == "supervisor")
        .map(|(id, name, _)| Principal::User { id: *id, username: name.clone(), role: Role::Supervisor, department_id: None })
        .ok_or_else(|| anyhow::anyhow!("demo supervisor missing"))?;
    let clerk_of = |department_id: i64| {
        clerks.iter().find(|(_, _, d)| *d == Some(department_id)).map(|(id, name, d)| Principal::User {
            id: *id,
            username: name.clone(),
            role: Role::Department,
            department_id: *d,
        })
    };
    let open: Vec<(i64, Option<i64>, chrono::NaiveDateTime, bool)> = db_run!(conn, |c| cases::table
        .order(cases::id.asc())
        .select((cases::id, cases::department_id, cases::opened_at, cases::review_id.is_not_null()))
        .load(c))?;
    let note = |text: &str| Some(text.to_owned());
    let mut recent = 0usize;
    for (case_id, department_id, opened_at, from_review) in open {
        let Some(clerk) = department_id.and_then(clerk_of) else { continue };
        let opened = clock::from_db(opened_at);
        let age_days = (now - opened).num_days();
        let roll: f64 = rng.gen();
        // (by the supervisor?, action, note, hours after opening)
        let mut plan: Vec<(bool, Action, Option<String>, i64)> = Vec::new();
        let (clerk_acts, supervisor_acts) = (false, true);
        let happy = |plan: &mut Vec<(bool, Action, Option<String>, i64)>, stretch: i64| {
            plan.push((clerk_acts, Action::Verify, note("已电话回访评价人，情况属实"), 3 * stretch));
            plan.push((clerk_acts, Action::Rectify, note("已对窗口人员进行批评教育，优化取号分流"), 30 * stretch));
            plan.push((clerk_acts, Action::Reply, note("感谢您的监督。经核实，我单位已整改：增开窗口、公示材料清单，欢迎再次评价。"), 50 * stretch));
            plan.push((supervisor_acts, Action::Approve, None, 60 * stretch));
        };
        if age_days > 14 {
            if from_review && roll < 0.06 {
                plan.push((clerk_acts, Action::Appeal, note("评价内容与本单位事项无关，申请复核"), 5));
                let decision = if roll < 0.03 { Action::UpholdAppeal } else { Action::DismissAppeal };
                plan.push((supervisor_acts, decision, note("经核查作出决定"), 30));
            } else if roll < 0.12 {
                happy(&mut plan, 4); // answered late
            } else {
                happy(&mut plan, 1);
            }
        } else if age_days > 3 {
            // Recent cases cycle through every situation, so that each list and board section has some.
            recent += 1;
            match recent % 8 {
                0 => happy(&mut plan, 1),
                1 | 5 => {
                    plan.push((clerk_acts, Action::Verify, note("已联系评价人"), 4));
                    plan.push((clerk_acts, Action::Rectify, note("已调整窗口排班，增加高峰时段人手"), 28));
                    if recent % 8 == 1 {
                        plan.push((clerk_acts, Action::Reply, note("我单位已整改，感谢监督。"), 40));
                    }
                }
                2 | 3 => {
                    plan.push((clerk_acts, Action::Verify, note("已联系评价人"), 4));
                    plan.push((clerk_acts, Action::RequestExtension, note("涉及跨部门协调，申请延期"), 20));
                    if recent % 8 == 3 {
                        plan.push((supervisor_acts, Action::GrantExtension, None, 26));
                    }
                }
                6 if from_review => plan.push((clerk_acts, Action::Appeal, note("非本单位办理事项"), 6)),
                7 => plan.push((clerk_acts, Action::RequestReassign, note("该事项由其他部门受理，申请改派"), 3)),
                _ => plan.push((clerk_acts, Action::Verify, note("已联系评价人，正在整改"), 5)),
            }
        } else if roll < 0.4 {
            plan.push((clerk_acts, Action::Verify, note("已联系评价人"), 2));
        }
        for (by_supervisor, action, text, hours) in plan {
            let actor = if by_supervisor { &supervisor } else { &clerk };
            let at = opened + Duration::hours(hours);
            if at >= now {
                break;
            }
            let request = ActionRequest { action, note: text, department_code: None };
            apply_action(conn, actor, case_id, &request, at, rules).map_err(|e| anyhow::anyhow!("demo case {case_id} {action}: {e}"))?;
            // Most citizens answer the 回访 a day after the approved reply.
            if action == Action::Approve && from_review && at + Duration::days(1) < now && rng.gen_bool(0.7) {
                let satisfaction = match rng.gen_range(0..10) {
                    0..=5 => Satisfaction::Satisfied,
                    6..=8 => Satisfaction::BasicallySatisfied,
                    _ => Satisfaction::Dissatisfied,
                };
                let transaction_no: String = db_run!(conn, |c| cases::table
                    .inner_join(reviews::table.on(reviews::id.nullable().eq(cases::review_id)))
                    .inner_join(transactions::table.on(transactions::id.eq(reviews::transaction_id)))
                    .filter(cases::id.eq(case_id))
                    .select(transactions::transaction_no)
                    .first(c))?;
                let citizen = Principal::Citizen { transaction_no: transaction_no.clone() };
                let answer = FollowUp::Handling { satisfaction, comment: None };
                record_follow_up(conn, &citizen, &transaction_no, &answer, at + Duration::days(1), rules)
                    .map_err(|e| anyhow::anyhow!("demo follow-up of case {case_id}: {e}"))?;
            }
        }
    }
    Ok(())
}
