"""Masks of what the patient is shown of their own e-insurance card (OV3)."""
from hospital.links import mask_rules as mask


def test_masks_keep_enough_to_recognise_and_not_enough_to_copy_OV3():
    assert mask.name("张三丰") == "张**" and mask.name("李") == "*" and mask.name("") == ""
    assert mask.id_number("110101199003074514") == "110***********4514"
    assert mask.id_number("E12345678") == "******678"  # a passport: the last three only
    assert mask.id_number("123") == "***"
    assert mask.tail("EC1234567890") == "********7890" and mask.tail("1234") == "****"
