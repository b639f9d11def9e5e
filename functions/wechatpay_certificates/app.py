"""Scheduled: downloads the WeChat Pay platform certificates of the merchants in certificate
mode and adds new ones to the merchant secret before the old ones expire."""
from hospital import settings
from hospital.chalice_app import create_app

app = create_app("wechatpay_certificates", needs=(settings.DATABASE, settings.PAYMENTS))


@app.schedule("rate(12 hours)", name="refresh_platform_certificates")
def refresh_platform_certificates(event):
    from hospital.payments import platform_certificates

    return platform_certificates.refresh()
