"""The patient's windows into the hospital's other systems (cloud imaging, physical exam,
insurance e-voucher, internet hospital): consent first, own data only, no identity in clear
in any link that leaves the backend."""
