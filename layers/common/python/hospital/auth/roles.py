"""Roles. Patients sign in with WeChat; staff and back-office users hold granted roles.

Route access is declared per route with these names (see hospital.web); the back-office
role management (AD2) builds on the same user_roles table.
"""
PATIENT = "patient"
STAFF = "staff"  # ambulance crew, medical-staff mini-program
DISPATCHER = "dispatcher"  # answers the 120 line, takes and dispatches cases
ED_NURSE = "ed_nurse"  # emergency department console
FRONT_DESK = "front_desk"  # 前台/导诊: files feedback tickets, keeps the FAQ with finance
FINANCE = "finance"
IT_ADMIN = "it_admin"
SUPER_ADMIN = "super_admin"

ALL = frozenset({PATIENT, STAFF, DISPATCHER, ED_NURSE, FRONT_DESK, FINANCE, IT_ADMIN, SUPER_ADMIN})
STAFF_ROLES = frozenset({STAFF, DISPATCHER, ED_NURSE})
ADMIN_ROLES = frozenset({FINANCE, IT_ADMIN, SUPER_ADMIN})
# Everyone who works in the back office in Chrome (the administrators and the front desk).
BACK_OFFICE = ADMIN_ROLES | {FRONT_DESK}
