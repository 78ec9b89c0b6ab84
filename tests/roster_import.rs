//! End to end: an organisation imports its roster from a spreadsheet. Bad rows are reported by
//! line and column and nothing changes; a dry run counts exactly; the import creates groups and
//! members the matcher then offers work to; importing again updates by name. Real NATS and
//! PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use komek_proto::roster::v1 as roster;
use komek_tests::settlements::find;
use komek_tests::{System, at, create_organization, create_request, violated_fields, wait_request};
use uuid::Uuid;

const SHEET: &str = "\
group,settlement,district,region,lat,lon,radius_km,skills,capacity,languages,volunteer,volunteer_languages
Shelek coal truck,Shelek,Enbekshikazakhskiy,Almaty Region,43.59623,78.25745,80,vehicle_cargo:5,2,kk;ru,\"Сейітов, Бақыт\",kk
Shelek coal truck,Shelek,Enbekshikazakhskiy,Almaty Region,43.59623,78.25745,80,vehicle_cargo:5,2,kk;ru,Ольга Ким,ru
Issyk helpers,Issyk,Enbekshikazakhskiy,Almaty Region,43.3552,77.45245,50,social_care;general_labour,3,kk;ru,Айгүл Нұрланқызы,kk;ru
Talgar searchers,Talghar,Talgarskiy,Almaty Region,43.30348,77.24085,100,search_rescue;first_aid,1,kk;ru;en,,
";

fn import(org: &str, csv: &str, validate_only: bool) -> roster::ImportRosterRequest {
    roster::ImportRosterRequest {
        request_id: Uuid::new_v4().to_string(),
        organization: org.to_string(),
        csv: csv.as_bytes().to_vec(),
        validate_only,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spreadsheet_becomes_groups_the_matcher_uses() {
    let system = System::start().await;
    let mut client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let org = create_organization(
        &mut client,
        "Қызыл Жарты Ай, Алматы облысы",
        roster::OrganizationKind::RedCrescent,
        &["Almaty Region"],
    )
    .await;
    let list = |client: &mut roster::roster_service_client::RosterServiceClient<_>| {
        let req = roster::ListGroupsRequest {
            organization: org.name.clone(),
            ..Default::default()
        };
        let mut client = client.clone();
        async move { client.list_groups(req).await.unwrap().into_inner().groups }
    };

    // Bad rows: every one reported, with its line and column, and nothing written.
    let bad = SHEET
        .replace("social_care;general_labour", "social_care;juggling")
        .replace("43.30348,77.24085", "north,77.24085")
        .replace("Ольга Ким", "Ольга Ким\u{7}")
        + "Shelek coal truck,Shelek,Enbekshikazakhskiy,Almaty Region,43.59623,78.25745,80,vehicle_cargo:5,3,kk;ru,,\n";
    let report = client
        .import_roster(import(&org.name, &bad, false))
        .await
        .unwrap()
        .into_inner();
    let errors: Vec<(i32, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.column.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(3, "volunteer"), (4, "skills"), (5, "lat"), (6, "group")],
        "{:?}",
        report.errors
    );
    assert!(report.errors[3].message.contains("line 2"));
    assert_eq!(report.groups_created, 0);
    assert!(list(&mut client).await.is_empty());

    // A dry run counts exactly and writes nothing.
    let dry = client
        .import_roster(import(&org.name, SHEET, true))
        .await
        .unwrap()
        .into_inner();
    assert!(dry.errors.is_empty(), "{:?}", dry.errors);
    assert_eq!((dry.groups_created, dry.volunteers_created), (3, 3));
    assert!(list(&mut client).await.is_empty());

    // The import; a retry of the same call returns the same report and changes nothing.
    let request = import(&org.name, SHEET, false);
    let done = client
        .import_roster(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((done.groups_created, done.volunteers_created), (3, 3));
    let again = client.import_roster(request).await.unwrap().into_inner();
    assert_eq!(again, done);
    let groups = list(&mut client).await;
    assert_eq!(groups.len(), 3);
    let shelek = groups
        .iter()
        .find(|g| g.display_name == "Shelek coal truck")
        .unwrap();
    assert_eq!(shelek.members.len(), 2);
    assert_eq!(shelek.skills[0].payload_tonnes, 5.0);
    let bakyt = client
        .get_volunteer(roster::GetVolunteerRequest {
            name: shelek.members[0].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        ["Сейітов, Бақыт", "Ольга Ким"].contains(&bakyt.display_name.as_str()),
        "a quoted name with a comma is one field"
    );

    // The matcher sees the imported groups: a coal request near Masak goes to Shelek.
    // Three groups, then their three members: six published states.
    system.wait_roster_published(3).await;
    let masak = find("Masak", "Almaty Region");
    let request = create_request(
        &mut intake_client,
        None,
        masak,
        at(masak),
        "Зейнеткерге көмір керек",
    )
    .await;
    let offered = wait_request(&intake_client, &request.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await;
    assert_eq!(offered.assignment.unwrap().group, shelek.name);

    // Importing the sheet again, one capacity changed, updates everything by name.
    let changed = SHEET.replace(",1,kk;ru;en,,", ",2,kk;ru;en,,");
    let update = client
        .import_roster(import(&org.name, &changed, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            update.groups_created,
            update.groups_updated,
            update.volunteers_created,
            update.volunteers_updated
        ),
        (0, 3, 0, 3)
    );
    let groups = list(&mut client).await;
    assert_eq!(groups.len(), 3);
    let talgar = groups
        .iter()
        .find(|g| g.display_name == "Talgar searchers")
        .unwrap();
    assert_eq!(talgar.capacity, 2);

    // UpdateGroup changes the named fields when the etag is current, and only then.
    let update = |group: roster::Group, paths: &[&str]| roster::UpdateGroupRequest {
        group: Some(group),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };
    let mut change = talgar.clone();
    change.capacity = 4;
    change.display_name = "ignored: not in the mask".into();
    let updated = client
        .update_group(update(change.clone(), &["capacity"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.capacity, 4);
    assert_eq!(updated.display_name, "Talgar searchers");
    assert_ne!(updated.etag, talgar.etag);
    let stale = client
        .update_group(update(change.clone(), &["capacity"]))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition);
    let mut bad = updated.clone();
    bad.capacity = 0;
    let err = client
        .update_group(update(bad, &["capacity", "members"]))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&err),
        ["update_mask.paths[1]", "group.capacity"]
    );

    // ListVolunteers pages through a group's members.
    let page = client
        .list_volunteers(roster::ListVolunteersRequest {
            page_size: 1,
            page_token: String::new(),
            group: shelek.name.clone(),
            show_deactivated: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.volunteers.len(), 1);
    let rest = client
        .list_volunteers(roster::ListVolunteersRequest {
            page_size: 1,
            page_token: page.next_page_token.clone(),
            group: shelek.name.clone(),
            show_deactivated: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.volunteers.len(), 1);
    assert_ne!(rest.volunteers[0].name, page.volunteers[0].name);

    // UpdateVolunteer moves a member to another group; both groups' member lists follow.
    let mut moved = page.volunteers[0].clone();
    let issyk = groups
        .iter()
        .find(|g| g.display_name == "Issyk helpers")
        .unwrap();
    moved.groups = vec![issyk.name.clone()];
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        })
    };
    let after = client
        .update_volunteer(roster::UpdateVolunteerRequest {
            volunteer: Some(moved.clone()),
            update_mask: mask(&["groups"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.groups, vec![issyk.name.clone()]);
    let get = |name: &str| roster::GetGroupRequest {
        name: name.to_string(),
    };
    let shelek_now = client
        .get_group(get(&shelek.name))
        .await
        .unwrap()
        .into_inner();
    assert!(!shelek_now.members.contains(&moved.name));
    let issyk_now = client
        .get_group(get(&issyk.name))
        .await
        .unwrap()
        .into_inner();
    assert!(issyk_now.members.contains(&moved.name));
    let stale = client
        .update_volunteer(roster::UpdateVolunteerRequest {
            volunteer: Some(moved),
            update_mask: mask(&["groups"]),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition);

    // UpdateOrganization, with its etag.
    let mut renamed = org.clone();
    renamed.regions = vec!["Almaty Region".into(), "Zhetisu Region".into()];
    let updated_org = client
        .update_organization(roster::UpdateOrganizationRequest {
            organization: Some(renamed.clone()),
            update_mask: mask(&["regions"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated_org.regions.len(), 2);
    let err = client
        .update_organization(roster::UpdateOrganizationRequest {
            organization: Some(renamed),
            update_mask: mask(&["regions"]),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    system.stop().await;
}

fn import_bytes(org: &str, file: &[u8], validate_only: bool) -> roster::ImportRosterRequest {
    roster::ImportRosterRequest {
        csv: file.to_vec(),
        ..import(org, "", validate_only)
    }
}

/// The roster as organisations keep it: an Excel workbook with Russian headers whose roster is
/// on its second sheet, the same list in the Excel 97–2003 format, and a CSV that Excel in a
/// Russian locale saves (semicolons, Windows-1251, decimal commas; Windows-1251 has no Kazakh
/// letters, so its names are Russian).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workbooks_and_windows_csv_import_as_they_are_kept() {
    let system = System::start().await;
    let mut client = system.roster_client().await;
    let org = create_organization(
        &mut client,
        "Алматы облысы жастар қанаты",
        roster::OrganizationKind::YouthWing,
        &["Almaty Region"],
    )
    .await;
    let xlsx = include_bytes!("../crates/sheets/tests/data/roster.xlsx");
    let xls = include_bytes!("../crates/sheets/tests/data/roster.xls");

    // A dry run says how the workbook was read: its roster sheet, four rows under the header.
    let dry = client
        .import_roster(import_bytes(&org.name, xlsx, true))
        .await
        .unwrap()
        .into_inner();
    assert!(dry.errors.is_empty(), "{:?}", dry.errors);
    assert_eq!((dry.groups_created, dry.volunteers_created), (3, 3));
    let file = dry.file.unwrap();
    assert_eq!(file.format(), roster::RosterFileFormat::Xlsx);
    assert_eq!((file.sheet.as_str(), file.rows), ("Топтар", 4));

    let done = client
        .import_roster(import_bytes(&org.name, xlsx, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((done.groups_created, done.volunteers_created), (3, 3));
    let groups = client
        .list_groups(roster::ListGroupsRequest {
            organization: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .groups;
    let issyk = groups
        .iter()
        .find(|g| g.display_name == "Есік көмекшілері")
        .unwrap();
    // Skills named in Russian, languages separated by a comma, the region in Kazakh: all
    // kept in their one form.
    let skills: Vec<i32> = issyk.skills.iter().map(|s| s.skill).collect();
    assert_eq!(
        skills,
        [
            komek_proto::types::v1::Skill::SocialCare as i32,
            komek_proto::types::v1::Skill::GeneralLabour as i32
        ]
    );
    assert_eq!(issyk.languages.len(), 2);
    assert!(groups.iter().all(|g| g.region == "Almaty Region"));
    let shelek = groups
        .iter()
        .find(|g| g.display_name == "Шелек көмір көлігі")
        .unwrap();
    assert_eq!(shelek.base_location.unwrap().latitude, 43.59623);
    assert_eq!((shelek.capacity, shelek.members.len()), (2, 2));

    // The same list in the old binary format reads the same: everything updated, nothing new.
    let again = client
        .import_roster(import_bytes(&org.name, xls, false))
        .await
        .unwrap()
        .into_inner();
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(again.file.unwrap().format(), roster::RosterFileFormat::Xls);
    assert_eq!(
        (
            again.groups_created,
            again.groups_updated,
            again.volunteers_created
        ),
        (0, 3, 0)
    );

    // Excel's "CSV" in a Russian locale: one bad latitude, named by the header as written and
    // by its line; nothing changes.
    let windows = "Группа;Широта;Долгота;Радиус, км;Навыки;Вместимость;Область\r\n\
        Кеген, уголь;43,02055;79,22194;60;Грузовой транспорт: 1,5;2;Алматинская область\r\n\
        Нарынкол, уголь;север;80,17495;40;vehicle_cargo:3;1;Алматинская область\r\n";
    let (bytes, _, lossy) = encoding_rs::WINDOWS_1251.encode(windows);
    assert!(!lossy);
    let refused = client
        .import_roster(import_bytes(&org.name, &bytes, false))
        .await
        .unwrap()
        .into_inner();
    let errors: Vec<(i32, &str)> = refused
        .errors
        .iter()
        .map(|e| (e.line, e.column.as_str()))
        .collect();
    assert_eq!(errors, [(3, "Широта")], "{:?}", refused.errors);
    let fixed = windows.replace("север", "42,72636");
    let (fixed, _, _) = encoding_rs::WINDOWS_1251.encode(&fixed);
    let applied = client
        .import_roster(import_bytes(&org.name, &fixed, false))
        .await
        .unwrap()
        .into_inner();
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    let file = applied.file.unwrap();
    assert_eq!(
        (file.encoding.as_str(), file.delimiter.as_str()),
        ("windows-1251", ";")
    );
    let kegen = client
        .list_groups(roster::ListGroupsRequest {
            organization: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .groups
        .into_iter()
        .find(|g| g.display_name == "Кеген, уголь")
        .unwrap();
    assert_eq!(kegen.skills[0].payload_tonnes, 1.5);
    assert_eq!(kegen.base_location.unwrap().longitude, 79.22194);

    system.stop().await;
}
