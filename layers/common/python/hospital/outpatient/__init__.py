"""Outpatient services: hospital cards found by the HIS archive, and registrations booked on
the service account (a slot held at the HIS, paid by an order for the hold's HIS bill,
confirmed by the HIS, cancelled by the patient within the hospital's window)."""
